//! What can go wrong, each with its exit code and what to do about it.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CliError {
    /// The arguments do not say what to do.
    #[error("{0}")]
    Usage(String),
    /// No such incident, or nothing of it in the evidence bucket.
    #[error("{0}")]
    NotFound(String),
    /// An AWS call failed.
    #[error("{operation} failed: {message}")]
    Aws { operation: &'static str, message: String },
    /// The function ran and answered an error (a refused release, an incomplete run).
    #[error("{function} answered {kind}: {message}")]
    Function {
        function: String,
        kind: String,
        message: String,
    },
    /// A person said no, or nobody was there to say yes.
    #[error("{0}")]
    Declined(String),
    /// The stack's outputs were needed (no option said) and could not be read.
    #[error("{needed}: stack {stack} could not be read")]
    Stack {
        stack: String,
        needed: &'static str,
        option: &'static str,
        #[source]
        source: Box<CliError>,
    },
    #[error("writing {path} failed")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl CliError {
    /// 2 usage, 3 not found, 4 AWS, 5 the function refused or failed, 6 declined, 1 local.
    #[must_use]
    pub fn exit(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::NotFound(_) => 3,
            CliError::Aws { .. } => 4,
            CliError::Function { .. } => 5,
            CliError::Declined(_) => 6,
            CliError::Write { .. } => 1,
            CliError::Stack { source, .. } => source.exit(),
        }
    }

    /// What to do next, when there is something to say.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        match self {
            CliError::Aws { message, .. } if message.contains("credentials") || message.contains("ExpiredToken") => {
                Some("check your credentials: --profile NAME, or `aws sso login`".to_owned())
            }
            CliError::Aws { message, .. } if message.contains("NoSuchBucket") => {
                Some("--bucket takes the stack's EvidenceBucketName output".to_owned())
            }
            CliError::Aws { message, .. } if message.contains("ResourceNotFound") => {
                Some("--stack NAME (or --function NAME) names the deployed function".to_owned())
            }
            CliError::Aws { .. } => Some("--region and --profile choose where and as whom".to_owned()),
            CliError::NotFound(_) => Some("`tourniquet incidents --since 7d` lists the incidents".to_owned()),
            CliError::Function { message, .. } if message.contains("changed since") => {
                Some("review the changes; --force releases anyway (recorded)".to_owned())
            }
            CliError::Declined(_) => Some("pass --yes to send it without asking".to_owned()),
            CliError::Stack { option, .. } => Some(format!(
                "--stack NAME names the deployed stack (aws cloudformation describe-stacks lists them); or give {option}"
            )),
            _ => None,
        }
    }

    pub fn aws(operation: &'static str, err: &(impl std::error::Error + 'static)) -> Self {
        CliError::Aws {
            operation,
            message: aws_sdk_s3::error::DisplayErrorContext(err).to_string(),
        }
    }
}
