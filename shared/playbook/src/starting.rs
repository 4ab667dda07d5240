//! A Lambda function's responder, built on the first event rather than before the first poll.
//!
//! The settings are read and checked at once: a bad one fails the cold start with its name.
//! The SDK's configuration and clients (the TLS root certificates are read then) are built
//! when the first event arrives, once per process, so the Lambda runtime asks for that event
//! as soon as the process starts. In Lambda the first event is waiting when the runtime first
//! asks, so building them earlier would not answer it sooner.

use tokio::sync::OnceCell;

use crate::clients::Clients;
use crate::error::Error;
use crate::incident::Source;
use crate::policy::Policy;
use crate::responder::Responder;
use crate::settings::Settings;

/// The checked settings, then the responder built from them.
pub struct Starting {
    settings: Settings,
    sources: Vec<Source>,
    responder: OnceCell<Responder>,
}

impl Starting {
    /// Checks the settings from the environment now, for a responder that answers events from
    /// `sources`.
    pub fn from_env(sources: &[Source]) -> Result<Self, Error> {
        let settings = Settings::from_env()?;
        Policy::new(&settings)?;
        Ok(Starting {
            settings,
            sources: sources.to_vec(),
            responder: OnceCell::new(),
        })
    }

    /// The responder, built on the first call.
    pub async fn responder(&self) -> Result<&Responder, Error> {
        self.responder
            .get_or_try_init(|| async {
                let clients = Clients::from_env().await;
                Ok(Responder::new(clients, self.settings.clone())?.accepting(&self.sources))
            })
            .await
    }
}
