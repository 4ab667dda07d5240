//! A Lambda function's responder, built beside the runtime's first poll.
//!
//! The settings are read and checked at once: a bad one fails the cold start with its name.
//! The SDK's configuration and clients (the TLS root certificates are read then) are built on
//! a task of their own, so the Lambda runtime asks for the first event meanwhile; the first
//! invocation waits for them if they are not ready yet.

use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};

use crate::clients::Clients;
use crate::error::Error;
use crate::incident::Source;
use crate::policy::Policy;
use crate::responder::Responder;
use crate::settings::Settings;

/// The responder being built, then built.
pub struct Starting(Shared<BoxFuture<'static, Arc<Responder>>>);

impl Starting {
    /// Checks the settings from the environment now and starts building a responder that
    /// answers events from `sources`. Must be called within a Tokio runtime.
    pub fn from_env(sources: &[Source]) -> Result<Self, Error> {
        let settings = Settings::from_env()?;
        let policy = Policy::new(&settings)?;
        let sources = sources.to_vec();
        let building = async move {
            let clients = Clients::from_env().await;
            Arc::new(Responder::with_policy(clients, settings, policy).accepting(&sources))
        }
        .boxed()
        .shared();
        tokio::spawn(building.clone());
        Ok(Starting(building))
    }

    /// The responder, once built.
    pub async fn responder(&self) -> Arc<Responder> {
        self.0.clone().await
    }
}
