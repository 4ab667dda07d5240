//! RDS databases in a seeded account: the instance the sample findings name, alone or in Aurora.

use anyhow::Result;

use crate::world::World;

/// The DB instance sample RDS findings name.
pub const INSTANCE: &str = "drill-db-instance-1";
/// The Aurora cluster sample RDS findings name.
pub const CLUSTER: &str = "drill-db-cluster";

/// Creates [`INSTANCE`]: in Aurora cluster `cluster` (created too), or a PostgreSQL instance.
pub async fn create(world: &World, cluster: Option<&str>) -> Result<()> {
    let rds = &world.account.clients.rds;
    let engine = if cluster.is_some() {
        "aurora-postgresql"
    } else {
        "postgres"
    };
    if let Some(cluster) = cluster {
        rds.create_db_cluster()
            .db_cluster_identifier(cluster)
            .engine(engine)
            .master_username("postgres")
            .master_user_password("drill-password-1")
            .send()
            .await?;
    }
    rds.create_db_instance()
        .db_instance_identifier(INSTANCE)
        .db_instance_class("db.r6g.large")
        .engine(engine)
        .set_db_cluster_identifier(cluster.map(ToOwned::to_owned))
        .set_master_username(cluster.is_none().then(|| "postgres".to_owned()))
        .set_master_user_password(cluster.is_none().then(|| "drill-password-1".to_owned()))
        .set_allocated_storage(cluster.is_none().then_some(20))
        .send()
        .await?;
    Ok(())
}
