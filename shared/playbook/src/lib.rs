//! Tourniquet's playbook: automated response to AWS security events.
//!
//! Data flows one way:
//!
//! ```text
//! raw JSON ──intake──▶ Incident ──target(policy)──▶ Target ──observe──▶ Observation ──plan──▶ Plan ──execute──▶ Report
//! ```
//!
//! [`intake`] reads an event leniently into an [`Incident`]; [`target::target`] makes the one
//! routing decision (page only and why, or which playbook and what to look at); [`responder`]
//! looks at exactly that resource (read-only); [`plan::plan`] is pure and holds every guard;
//! [`execute`] runs the steps once each, in stages of steps that need not wait for one another,
//! recording them in the evidence bucket ([`ledger`]), and pages last. The Lambda functions are thin wrappers around [`Responder::handle`].
//!
//! Planning needs no AWS at all:
//!
//! ```
//! use std::time::SystemTime;
//! use playbook::{intake, plan::plan, target::target, Observation, Playbook, Policy, Settings};
//!
//! let event = serde_json::json!({
//!     "source": "aws.guardduty",
//!     "detail-type": "GuardDuty Finding",
//!     "detail": {
//!         "id": "f1", "type": "Recon:EC2/PortProbeUnprotectedPort", "severity": 2,
//!         "resource": {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-1"}}
//!     }
//! });
//! let incident = intake::parse(&event)?.incident().expect("a finding");
//! let settings = Settings::from_lookup(|var| match var {
//!     "TOURNIQUET_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:pages".into()),
//!     "TOURNIQUET_EVIDENCE_BUCKET" => Some("evidence".into()),
//!     _ => None,
//! })?;
//! let policy = Policy::new(&settings)?;
//! let target = target(&incident, &policy);
//! assert_eq!(target.playbook(), None, "below the floor: nothing to look at");
//! let plan = plan(&incident, &target, &Observation::NotNeeded, &policy, SystemTime::UNIX_EPOCH);
//! assert_eq!(plan.playbook, Playbook::PageOnly);
//! assert!(plan.reason.contains("below the ec2-compromise floor"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod actions;
pub mod clients;
pub mod config_history;
pub mod config_rules;
pub mod error;
pub mod execute;
pub mod incident;
pub mod intake;
pub mod ledger;
pub mod links;
pub mod names;
pub mod observation;
pub mod page;
pub mod place;
pub mod plan;
pub mod policy;

pub mod report;
pub mod responder;
pub mod response;
pub mod securityhub;

pub mod settings;
pub mod starting;
pub mod target;
pub mod telemetry;
pub mod timeline;

pub use clients::Clients;
pub use error::Error;
pub use execute::Budget;
pub use incident::Source;
pub use incident::{Incident, Resource};
pub use observation::Observation;
pub use plan::Plan;
pub use policy::{Playbook, Policy};
pub use report::{Outcome, Report};
pub use responder::Responder;
pub use response::Response;
pub use settings::Settings;
pub use starting::Starting;
