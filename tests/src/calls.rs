//! Every AWS call a test or the bench makes, recorded with its timing, and the round trips
//! they add up to.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use aws_sdk_ec2::config::interceptors::{BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef};
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ec2::error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use playbook::Clients;

use crate::account::Account;

/// One attempt of one AWS call: what, and when it was on the wire.
#[derive(Debug, Clone)]
pub struct Call {
    pub service: &'static str,
    pub action: String,
    /// Identifies the operation between its hooks (see `operation`).
    operation: usize,
    pub sent: Instant,
    pub done: Option<Instant>,
}

/// Records every attempt of every call made through the clients it is attached to, in one
/// list for all services.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    calls: Arc<Mutex<Vec<Call>>>,
    service: &'static str,
}

/// An operation's config bag lives in its future, pinned while it runs: its address tells
/// concurrent operations apart from one hook to the next.
fn operation(cfg: &ConfigBag) -> usize {
    std::ptr::from_ref(cfg).addr()
}

/// The call's name: the Query protocol's `Action`, else (S3, REST) method and path.
fn action(method: &str, uri: &str, body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action=").map(ToOwned::to_owned))
        .unwrap_or_else(|| {
            let path = uri
                .split("://")
                .nth(1)
                .and_then(|rest| rest.find('/').map(|i| &rest[i..]));
            format!("{method} {}", path.unwrap_or(uri))
        })
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "call recorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let call = Call {
            service: self.service,
            action: action(
                request.method(),
                request.uri(),
                request.body().bytes().unwrap_or_default(),
            ),
            operation: operation(cfg),
            sent: Instant::now(),
            done: None,
        };
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).push(call);
        Ok(())
    }

    fn read_after_attempt(
        &self,
        _: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = operation(cfg);
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(call) = calls
            .iter_mut()
            .rev()
            .find(|c| c.operation == operation && c.done.is_none())
        {
            call.done = Some(Instant::now());
        }
        Ok(())
    }
}

impl Recorder {
    /// The same record, for the client of `service`.
    #[must_use]
    pub fn of(&self, service: &'static str) -> Self {
        Recorder {
            calls: Arc::clone(&self.calls),
            service,
        }
    }

    /// `http` with this record's `AssumeRole` calls added: the SDK's assume-role credentials
    /// provider makes them with an STS client of its own, which no interceptor of ours
    /// reaches; its HTTP client is the configuration's.
    #[must_use]
    pub fn assume_role_calls(&self, http: SharedHttpClient) -> SharedHttpClient {
        SharedHttpClient::new(AssumeRoleCalls {
            inner: http,
            recorder: self.of("sts"),
        })
    }

    /// The calls so far, and a fresh start.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Every client of `account`, each with `recorder` attached.
#[must_use]
pub fn recorded_clients(account: &Account, recorder: &Recorder) -> Clients {
    recorded(&account.config, recorder)
}

/// Clients from `config` whose every call `recorder` records: also the builder of a
/// responder's other places (`Responder::building_places_with`), so their calls count too.
#[must_use]
pub fn recorded(config: &aws_config::SdkConfig, recorder: &Recorder) -> Clients {
    Clients {
        autoscaling: aws_sdk_autoscaling::Client::from_conf(
            aws_sdk_autoscaling::config::Builder::from(config)
                .interceptor(recorder.of("autoscaling"))
                .build(),
        ),
        config: aws_sdk_config::Client::from_conf(
            aws_sdk_config::config::Builder::from(config)
                .interceptor(recorder.of("config"))
                .build(),
        ),
        ec2: aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(config)
                .interceptor(recorder.of("ec2"))
                .build(),
        ),
        iam: aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(config)
                .interceptor(recorder.of("iam"))
                .build(),
        ),
        s3: aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(config)
                .force_path_style(true)
                .interceptor(recorder.of("s3"))
                .build(),
        ),
        securityhub: aws_sdk_securityhub::Client::from_conf(
            aws_sdk_securityhub::config::Builder::from(config)
                .interceptor(recorder.of("securityhub"))
                .build(),
        ),
        sns: aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::config::Builder::from(config)
                .interceptor(recorder.of("sns"))
                .build(),
        ),
        sts: aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(config)
                .interceptor(recorder.of("sts"))
                .build(),
        ),
        lambda: aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(config)
                .interceptor(recorder.of("lambda"))
                .build(),
        ),
        rds: aws_sdk_rds::Client::from_conf(
            aws_sdk_rds::config::Builder::from(config)
                .interceptor(recorder.of("rds"))
                .build(),
        ),
        sdk_config: config.clone(),
    }
}

/// The round-trip depth of each call: 1 + the deepest call that finished before it was sent.
#[must_use]
pub fn depths(calls: &[Call]) -> Vec<usize> {
    let mut depth = vec![0; calls.len()];
    for i in 0..calls.len() {
        depth[i] = 1
            + (0..i)
                .filter(|&j| calls[j].done.is_some_and(|d| d <= calls[i].sent))
                .map(|j| depth[j])
                .max()
                .unwrap_or(0);
    }
    depth
}

/// An HTTP client that records the `AssumeRole` requests it sends (see
/// `Recorder::assume_role_calls`).
#[derive(Debug, Clone)]
struct AssumeRoleCalls {
    inner: SharedHttpClient,
    recorder: Recorder,
}

impl HttpClient for AssumeRoleCalls {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(AssumeRoleConnector {
            inner: self.inner.http_connector(settings, components),
            recorder: self.recorder.clone(),
        })
    }
}

#[derive(Debug)]
struct AssumeRoleConnector {
    inner: SharedHttpConnector,
    recorder: Recorder,
}

impl HttpConnector for AssumeRoleConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let body = request.body().bytes().unwrap_or_default();
        if !String::from_utf8_lossy(body).contains("Action=AssumeRole") {
            return self.inner.call(request);
        }
        let sent = Instant::now();
        // A number of its own, so that its end is found among the others.
        let operation = usize::MAX - self.recorder.calls.lock().unwrap_or_else(PoisonError::into_inner).len();
        self.recorder
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Call {
                service: "sts",
                action: "AssumeRole".to_owned(),
                operation,
                sent,
                done: None,
            });
        let (response, calls) = (self.inner.call(request), Arc::clone(&self.recorder.calls));
        HttpConnectorFuture::new(async move {
            let response = response.await;
            let mut calls = calls.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(call) = calls.iter_mut().find(|c| c.operation == operation) {
                call.done = Some(Instant::now());
            }
            response
        })
    }
}
