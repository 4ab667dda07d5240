//! RDS databases: what the instance is, and a manual snapshot tagged with the incident.

use std::collections::BTreeMap;

use aws_sdk_rds::types::Tag;

use super::{AwsError, Done, request_id, sdk, tolerate};
use crate::observation::{DatabaseState, Observation};

/// Describes a DB instance: engine, status, its Aurora cluster if any, and its tags.
pub async fn observe_database(rds: &aws_sdk_rds::Client, db_instance_id: &str) -> Observation {
    let output = match rds
        .describe_db_instances()
        .db_instance_identifier(db_instance_id)
        .send()
        .await
        .map_err(sdk("DescribeDBInstances"))
    {
        Ok(output) => output,
        Err(err) => return err.unavailable(),
    };
    let Some(instance) = output.db_instances().first() else {
        return Observation::Unavailable {
            code: "DBInstanceNotFound".to_owned(),
            message: format!("no DB instance {db_instance_id}"),
        };
    };
    Observation::Database(Box::new(DatabaseState {
        db_instance_id: db_instance_id.to_owned(),
        arn: instance.db_instance_arn().map(ToOwned::to_owned),
        engine: instance.engine().map(ToOwned::to_owned),
        status: instance.db_instance_status().map(ToOwned::to_owned),
        cluster_id: instance.db_cluster_identifier().map(ToOwned::to_owned),
        tags: instance
            .tag_list()
            .iter()
            .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
            .collect(),
    }))
}

/// A manual snapshot of the instance (of its cluster, on Aurora), named after the incident and
/// tagged with it. A snapshot of that name already there (a retry) counts as done.
pub async fn snapshot_database(
    rds: &aws_sdk_rds::Client,
    db_instance_id: &str,
    cluster_id: Option<&str>,
    snapshot_id: &str,
    tags: &BTreeMap<String, String>,
) -> Result<Done, AwsError> {
    let tags: Vec<Tag> = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let (kind, request_id) = if let Some(cluster) = cluster_id {
        let result = rds
            .create_db_cluster_snapshot()
            .db_cluster_identifier(cluster)
            .db_cluster_snapshot_identifier(snapshot_id)
            .set_tags(Some(tags))
            .send()
            .await
            .map(|o| request_id(&o))
            .map_err(sdk("CreateDBClusterSnapshot"));
        (
            "cluster",
            tolerate(result, "DBClusterSnapshotAlreadyExistsFault")?.flatten(),
        )
    } else {
        let result = rds
            .create_db_snapshot()
            .db_instance_identifier(db_instance_id)
            .db_snapshot_identifier(snapshot_id)
            .set_tags(Some(tags))
            .send()
            .await
            .map(|o| request_id(&o))
            .map_err(sdk("CreateDBSnapshot"));
        ("instance", tolerate(result, "DBSnapshotAlreadyExists")?.flatten())
    };
    Ok(Done::new(
        [request_id],
        serde_json::json!({"db_instance": db_instance_id, "cluster": cluster_id, "snapshot": snapshot_id, "kind": kind}),
    ))
}
