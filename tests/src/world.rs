//! A small, realistic account to respond in, and the reads a person would make afterwards.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use aws_sdk_ec2::types::{
    AttributeBooleanValue, BlockDeviceMapping, DomainType, EbsBlockDevice, Filter, InstanceAttributeName, InstanceType,
    IpPermission, IpRange, ResourceType, Tag, TagSpecification,
};
use playbook::Settings;

use crate::account::Account;

/// A host: its instance, interfaces (by device index) and volumes.
#[derive(Debug, Clone)]
pub struct Host {
    pub instance_id: String,
    pub interfaces: Vec<String>,
    pub volumes: Vec<String>,
}

/// The instance profile of the web role ([`World::give_web_role`]).
pub const WEB_PROFILE: &str = "web-profile";

/// What `seed` built.
#[derive(Debug, Clone)]
pub struct World {
    pub account: Account,
    pub vpc_id: String,
    pub subnet_id: String,
    pub image_id: String,
    /// Open to the world on 22, 80 and 443: the web tier.
    pub web_group: String,
    /// Internal only: the app tier, on the web host's second interface.
    pub app_group: String,
    /// The VPC's default group.
    pub default_group: String,
    /// A bucket with no public access block and no default encryption.
    pub assets_bucket: String,
    /// Two interfaces, two volumes, an Elastic IP.
    pub web: Host,
    /// Carries the protected tag.
    pub bastion: Host,
    pub elastic_ip: String,
    /// An IAM user with two access keys: the first 200 days old (the one sample findings
    /// name), the second fresh.
    pub deployer: String,
    pub deployer_id: String,
    pub deployer_keys: Vec<String>,
    /// The web host's instance role.
    pub web_role: String,
    pub topic_arn: String,
    pub queue_url: String,
    pub bucket: String,
}

/// The Config rules the samples in `events/config` name, as Security Hub, a conformance pack
/// or a person set them up: name, managed rule, parameters.
pub const CONFIG_RULES: [(&str, &str, &str); 6] = [
    ("securityhub-restricted-ssh-a1b2c3", "INCOMING_SSH_DISABLED", "{}"),
    (
        "restricted-common-ports-conformance-pack-xyz12345",
        "RESTRICTED_INCOMING_TRAFFIC",
        "{}",
    ),
    (
        "vpc-sg-open-only-to-authorized-ports",
        "VPC_SG_OPEN_ONLY_TO_AUTHORIZED_PORTS",
        r#"{"authorizedTcpPorts":"443"}"#,
    ),
    (
        "vpc-default-security-group-closed",
        "VPC_DEFAULT_SECURITY_GROUP_CLOSED",
        "{}",
    ),
    (
        "access-keys-rotated",
        "ACCESS_KEYS_ROTATED",
        r#"{"maxAccessKeyAge":"90"}"#,
    ),
    (
        "iam-user-unused-credentials-check",
        "IAM_USER_UNUSED_CREDENTIALS_CHECK",
        r#"{"maxCredentialUsageAge":"90"}"#,
    ),
];

/// AWS Config recording every resource of the account, as its Config rules need: a
/// recorder, its delivery channel, and recording started.
pub async fn record_configuration(account: &Account) -> Result<()> {
    use aws_sdk_config::types::{ConfigurationRecorder, DeliveryChannel, RecordingGroup};

    let config = &account.clients.config;
    config
        .put_configuration_recorder()
        .configuration_recorder(
            ConfigurationRecorder::builder()
                .name("default")
                .role_arn(format!("arn:aws:iam::{}:role/config-recorder", account.id))
                .recording_group(
                    RecordingGroup::builder()
                        .all_supported(true)
                        .include_global_resource_types(true)
                        .build(),
                )
                .build(),
        )
        .send()
        .await?;
    config
        .put_delivery_channel()
        .delivery_channel(
            DeliveryChannel::builder()
                .name("default")
                .s3_bucket_name(format!("config-history-{}", account.id))
                .build(),
        )
        .send()
        .await?;
    config
        .start_configuration_recorder()
        .configuration_recorder_name("default")
        .send()
        .await?;
    Ok(())
}

/// Creates or changes the AWS managed Config rule `name`.
pub async fn put_config_rule(account: &Account, name: &str, identifier: &str, parameters: &str) -> Result<()> {
    let rule = aws_sdk_config::types::ConfigRule::builder()
        .config_rule_name(name)
        .source(
            aws_sdk_config::types::Source::builder()
                .owner(aws_sdk_config::types::Owner::Aws)
                .source_identifier(identifier)
                .build()?,
        )
        .input_parameters(parameters)
        .build();
    account
        .clients
        .config
        .put_config_rule()
        .config_rule(rule)
        .send()
        .await?;
    Ok(())
}

/// A page as it reached the subscribed queue.
#[derive(Debug, Clone)]
pub struct Page {
    pub subject: String,
    /// The page as its email showed it: the text rendered from the document the queue got
    /// (or the message itself, when it is not a page document).
    pub message: String,
    /// The JSON the queue got (the page document, or a Chatbot notification).
    pub json: serde_json::Value,
    pub attributes: serde_json::Value,
}

impl Page {
    /// The page document, when the queue got one.
    #[must_use]
    pub fn document(&self) -> Option<playbook::page::Document> {
        serde_json::from_value(self.json.clone()).ok()
    }
}

/// A message as it reached a raw-delivery queue: the body as published, its attributes.
#[derive(Debug, Clone)]
pub struct RawMessage {
    pub body: String,
    /// Attribute name to its string value.
    pub attributes: BTreeMap<String, String>,
}

fn tag_spec(kind: ResourceType, pairs: &[(&str, &str)]) -> TagSpecification {
    let mut spec = TagSpecification::builder().resource_type(kind);
    for (k, v) in pairs {
        spec = spec.tags(Tag::builder().key(*k).value(*v).build());
    }
    spec.build()
}

fn open_to_world(port: i32) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port)
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build()
}

impl World {
    /// Builds the account: a VPC, a web host with two interfaces, two volumes and an Elastic
    /// IP, a protected bastion, the page topic with a queue subscribed, the evidence bucket.
    pub async fn seed(account: Account) -> Result<Self> {
        record_configuration(&account).await?;
        let (vpc_id, subnet_id, web_group, app_group) = Self::seed_network(&account).await?;
        let (image_id, web_id, bastion_id, elastic_ip) =
            Self::seed_hosts(&account, &subnet_id, &web_group, &app_group).await?;
        let (topic_arn, queue_url, bucket) = Self::seed_paging_and_evidence(&account).await?;
        let (deployer, deployer_id, deployer_keys, web_role) = Self::seed_iam(&account).await?;
        crate::emulator::emulator().age_access_key(&account.id, &deployer_keys[0], 200)?;
        let default_group = account
            .clients
            .ec2
            .describe_security_groups()
            .filters(Filter::builder().name("vpc-id").values(&vpc_id).build())
            .filters(Filter::builder().name("group-name").values("default").build())
            .send()
            .await?
            .security_groups()
            .first()
            .and_then(|g| g.group_id())
            .context("default group")?
            .to_owned();
        for (name, identifier, parameters) in CONFIG_RULES {
            put_config_rule(&account, name, identifier, parameters).await?;
        }
        let assets_bucket = format!("public-assets-{}", account.id);
        account.clients.s3.create_bucket().bucket(&assets_bucket).send().await?;

        let mut world = World {
            web: Host {
                instance_id: web_id,
                interfaces: Vec::new(),
                volumes: Vec::new(),
            },
            bastion: Host {
                instance_id: bastion_id,
                interfaces: Vec::new(),
                volumes: Vec::new(),
            },
            account,
            vpc_id,
            subnet_id,
            image_id,
            web_group,
            app_group,
            default_group,
            assets_bucket,
            elastic_ip,
            deployer,
            deployer_id,
            deployer_keys,
            web_role,
            topic_arn,
            queue_url,
            bucket,
        };
        world.web = world.host(&world.web.instance_id.clone()).await?;
        world.bastion = world.host(&world.bastion.instance_id.clone()).await?;
        Ok(world)
    }

    /// A VPC with one subnet, a web group open to the world and an internal app group.
    async fn seed_network(account: &Account) -> Result<(String, String, String, String)> {
        let ec2 = &account.clients.ec2;
        let vpc_id = ec2
            .create_vpc()
            .cidr_block("10.20.0.0/16")
            .tag_specifications(tag_spec(ResourceType::Vpc, &[("Name", "prod")]))
            .send()
            .await?
            .vpc()
            .and_then(|v| v.vpc_id())
            .context("vpc id")?
            .to_owned();
        let subnet_id = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block("10.20.1.0/24")
            .availability_zone("us-east-1a")
            .send()
            .await?
            .subnet()
            .and_then(|s| s.subnet_id())
            .context("subnet id")?
            .to_owned();
        let group = |name: &'static str| {
            let vpc_id = vpc_id.clone();
            async move {
                let id = ec2
                    .create_security_group()
                    .group_name(name)
                    .description(format!("{name} tier"))
                    .vpc_id(vpc_id)
                    .send()
                    .await?
                    .group_id()
                    .context("group id")?
                    .to_owned();
                anyhow::Ok(id)
            }
        };
        let web_group = group("web").await?;
        let app_group = group("app").await?;
        ec2.authorize_security_group_ingress()
            .group_id(&web_group)
            .ip_permissions(open_to_world(22))
            .ip_permissions(open_to_world(80))
            .ip_permissions(open_to_world(443))
            .send()
            .await?;
        ec2.authorize_security_group_ingress()
            .group_id(&web_group)
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(443)
                    .to_port(443)
                    .ip_ranges(IpRange::builder().cidr_ip("10.20.0.0/16").build())
                    .build(),
            )
            .send()
            .await?;
        ec2.authorize_security_group_ingress()
            .group_id(&app_group)
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(8080)
                    .to_port(8080)
                    .ip_ranges(IpRange::builder().cidr_ip("10.20.0.0/16").build())
                    .build(),
            )
            .send()
            .await?;

        Ok((vpc_id, subnet_id, web_group, app_group))
    }

    /// The web host (two interfaces, two volumes, an Elastic IP) and the protected bastion.
    async fn seed_hosts(
        account: &Account,
        subnet_id: &str,
        web_group: &str,
        app_group: &str,
    ) -> Result<(String, String, String, String)> {
        let ec2 = &account.clients.ec2;
        let image_id = ec2
            .describe_images()
            .owners("amazon")
            .send()
            .await?
            .images()
            .first()
            .and_then(|i| i.image_id())
            .context("an image")?
            .to_owned();
        let launch = |name: &'static str, extra_tags: &'static [(&'static str, &'static str)]| {
            let (image_id, subnet_id, web_group) = (image_id.clone(), subnet_id.to_owned(), web_group.to_owned());
            async move {
                let mut tags = vec![("Name", name)];
                tags.extend_from_slice(extra_tags);
                let disk = |device: &str, size: i32| {
                    BlockDeviceMapping::builder()
                        .device_name(device)
                        .ebs(EbsBlockDevice::builder().volume_size(size).build())
                        .build()
                };
                let out = ec2
                    .run_instances()
                    .image_id(image_id)
                    .instance_type(InstanceType::T3Micro)
                    .min_count(1)
                    .max_count(1)
                    .subnet_id(subnet_id)
                    .security_group_ids(web_group)
                    .block_device_mappings(disk("/dev/xvda", 8))
                    .block_device_mappings(disk("/dev/xvdb", 20))
                    .tag_specifications(tag_spec(ResourceType::Instance, &tags))
                    .send()
                    .await?;
                let id = out
                    .instances()
                    .first()
                    .and_then(|i| i.instance_id())
                    .context("instance id")?;
                anyhow::Ok(id.to_owned())
            }
        };
        let web_id = launch("web-1", &[("tier", "web")]).await?;
        let bastion_id = launch("bastion", &[("tourniquet:protected", "true")]).await?;

        let eni = ec2
            .create_network_interface()
            .subnet_id(subnet_id)
            .groups(app_group)
            .description("web-1 app interface")
            .send()
            .await?
            .network_interface()
            .and_then(|n| n.network_interface_id())
            .context("eni id")?
            .to_owned();
        ec2.attach_network_interface()
            .network_interface_id(&eni)
            .instance_id(&web_id)
            .device_index(1)
            .send()
            .await?;
        let allocation = ec2.allocate_address().domain(DomainType::Vpc).send().await?;
        let elastic_ip = allocation.public_ip().context("public ip")?.to_owned();
        ec2.associate_address()
            .allocation_id(allocation.allocation_id().context("allocation id")?)
            .instance_id(&web_id)
            .send()
            .await?;

        Ok((image_id, web_id, bastion_id, elastic_ip))
    }

    /// The page topic with a queue subscribed (to read pages back) and the evidence bucket.
    async fn seed_paging_and_evidence(account: &Account) -> Result<(String, String, String)> {
        let topic_arn = account
            .clients
            .sns
            .create_topic()
            // Named as CloudFormation names the stack's topic (<stack>-<logical id>-<suffix>).
            .name(format!("tourniquet-PageTopic-{}", account.id))
            .send()
            .await?
            .topic_arn()
            .context("topic arn")?
            .to_owned();
        let queue_url = account
            .sqs
            .create_queue()
            .queue_name("on-call-pages")
            .send()
            .await?
            .queue_url()
            .context("queue url")?
            .to_owned();
        let queue_arn = format!("arn:aws:sqs:{}:{}:on-call-pages", crate::account::REGION, account.id);
        account
            .clients
            .sns
            .subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await?;
        // Named as CloudFormation names the stack's bucket (lower case).
        let bucket = format!("tourniquet-evidencebucket-{}", account.id);
        account.clients.s3.create_bucket().bucket(&bucket).send().await?;

        Ok((topic_arn, queue_url, bucket))
    }

    /// A deployment user with two access keys and the web host's role.
    async fn seed_iam(account: &Account) -> Result<(String, String, Vec<String>, String)> {
        let iam = &account.clients.iam;
        let deployer = "ci-deployer".to_owned();
        let deployer_id = iam
            .create_user()
            .user_name(&deployer)
            .send()
            .await?
            .user()
            .context("user")?
            .user_id()
            .to_owned();
        let mut deployer_keys = Vec::new();
        for _ in 0..2 {
            let key = iam.create_access_key().user_name(&deployer).send().await?;
            deployer_keys.push(key.access_key().context("key")?.access_key_id().to_owned());
        }
        let web_role = "drill-web-role".to_owned();
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        iam.create_role()
            .role_name(&web_role)
            .assume_role_policy_document(trust)
            .send()
            .await?;

        Ok((deployer, deployer_id, deployer_keys, web_role))
    }

    /// Launches one more web-tier instance (one interface, one volume); its id.
    pub async fn launch_worker(&self) -> Result<String> {
        let out = self
            .account
            .clients
            .ec2
            .run_instances()
            .image_id(&self.image_id)
            .instance_type(InstanceType::T3Micro)
            .min_count(1)
            .max_count(1)
            .subnet_id(&self.subnet_id)
            .security_group_ids(&self.web_group)
            .tag_specifications(tag_spec(ResourceType::Instance, &[("Name", "worker")]))
            .send()
            .await?;
        Ok(out
            .instances()
            .first()
            .and_then(|i| i.instance_id())
            .context("instance id")?
            .to_owned())
    }

    /// Gives each instance the web role, through the instance profile `web-profile` (made on
    /// first use): the fleet that shares one role.
    pub async fn give_web_role(&self, instance_ids: &[&str]) -> Result<()> {
        let iam = &self.account.clients.iam;
        if iam
            .get_instance_profile()
            .instance_profile_name(WEB_PROFILE)
            .send()
            .await
            .is_err()
        {
            iam.create_instance_profile()
                .instance_profile_name(WEB_PROFILE)
                .send()
                .await?;
            iam.add_role_to_instance_profile()
                .instance_profile_name(WEB_PROFILE)
                .role_name(&self.web_role)
                .send()
                .await?;
        }
        for instance_id in instance_ids {
            self.account
                .clients
                .ec2
                .associate_iam_instance_profile()
                .instance_id(*instance_id)
                .iam_instance_profile(
                    aws_sdk_ec2::types::IamInstanceProfileSpecification::builder()
                        .name(WEB_PROFILE)
                        .build(),
                )
                .send()
                .await?;
        }
        Ok(())
    }

    /// An instance as a host: its interfaces (by device index) and volumes.
    pub async fn host(&self, instance_id: &str) -> Result<Host> {
        let out = self
            .account
            .clients
            .ec2
            .describe_instances()
            .instance_ids(instance_id)
            .send()
            .await?;
        let instance = out
            .reservations()
            .iter()
            .flat_map(aws_sdk_ec2::types::Reservation::instances)
            .next()
            .context("instance")?;
        let mut nics: Vec<(i32, String)> = instance
            .network_interfaces()
            .iter()
            .filter_map(|n| {
                Some((
                    n.attachment()
                        .and_then(aws_sdk_ec2::types::InstanceNetworkInterfaceAttachment::device_index)?,
                    n.network_interface_id()?.to_owned(),
                ))
            })
            .collect();
        nics.sort();
        Ok(Host {
            instance_id: instance_id.to_owned(),
            interfaces: nics.into_iter().map(|(_, id)| id).collect(),
            volumes: instance
                .block_device_mappings()
                .iter()
                .filter_map(|m| m.ebs()?.volume_id().map(ToOwned::to_owned))
                .collect(),
        })
    }

    /// Settings as template.yaml would set them for this account.
    #[must_use]
    pub fn settings(&self) -> Settings {
        let pairs = self.env_settings();
        Settings::from_lookup(|var| pairs.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone()))
            .expect("harness settings are valid")
    }

    /// The function's configuration environment.
    #[must_use]
    pub fn env_settings(&self) -> Vec<(String, String)> {
        vec![
            ("TOURNIQUET_TOPIC_ARN".to_owned(), self.topic_arn.clone()),
            ("TOURNIQUET_EVIDENCE_BUCKET".to_owned(), self.bucket.clone()),
        ]
    }

    /// The environment of `function`'s process in this account: its role's credentials (see
    /// `Account::as_function`) and its settings.
    pub async fn function_env(&self, function: &str) -> Result<Vec<(String, String)>> {
        let mut env = self.account.as_function(function).await?.env().await?;
        env.extend(self.env_settings());
        Ok(env)
    }

    /// A responder in this account acting as `function`'s role, with `settings`: every call
    /// it makes is recorded for `make iam` (there is no responder with the harness's own
    /// credentials, which IAM would never judge).
    pub async fn responder_as(&self, function: &str, settings: Settings) -> Result<playbook::Responder> {
        // Boxed: the STS call's future is large, and a test's future lives on its thread's stack.
        let account = Box::pin(self.account.as_function(function)).await?;
        Ok(playbook::Responder::new(account.clients, settings)?)
    }

    /// This account as `function`'s role, reached through the emulator's fault injector.
    pub async fn faulty_as(&self, function: &str) -> Result<Account> {
        Box::pin(self.account.as_function(function))
            .await?
            .through_faults()
            .await
    }

    /// [`World::responder_as`], reaching the emulator through its fault injector.
    pub async fn faulty_responder_as(&self, function: &str, settings: Settings) -> Result<playbook::Responder> {
        Ok(playbook::Responder::new(
            self.faulty_as(function).await?.clients,
            settings,
        )?)
    }

    /// Handles `event` as a deployment would, with the default settings: put on the account's
    /// default bus, whose rules are template.yaml's, and handled by the function a rule
    /// delivers it to, as that function's role, with the event as delivered. An event no rule
    /// delivers (an alarm action's own payload, a request a person sends, a test's finding
    /// below a rule's threshold) is handled as a direct invocation of the function
    /// `function_for` names would. The incident's report.
    pub async fn respond(&self, event: serde_json::Value) -> Result<playbook::Report> {
        let mut delivered = crate::events::delivered(&event, self)?;
        let (function, event) = match delivered.len() {
            0 => (function_for(&event).to_owned(), event),
            1 => delivered.remove(0),
            _ => anyhow::bail!(
                "template.yaml's rules deliver the event {} times: {:?}",
                delivered.len(),
                delivered.iter().map(|(to, _)| to).collect::<Vec<_>>()
            ),
        };
        Box::pin(self.responder_as(&function, self.settings()).await?.handle(event))
            .await?
            .report()
            .context("the event was ignored: not an incident")
    }

    /// Status of each of the deployer's keys, in creation order.
    pub async fn deployer_key_status(&self) -> Result<Vec<String>> {
        let out = self
            .account
            .clients
            .iam
            .list_access_keys()
            .user_name(&self.deployer)
            .send()
            .await?;
        let status: BTreeMap<String, String> = out
            .access_key_metadata()
            .iter()
            .filter_map(|k| Some((k.access_key_id()?.to_owned(), k.status()?.as_str().to_owned())))
            .collect();
        Ok(self
            .deployer_keys
            .iter()
            .map(|k| status.get(k).cloned().unwrap_or_default())
            .collect())
    }

    /// An inline user policy's document, if the user has it.
    pub async fn user_policy(&self, user: &str, name: &str) -> Result<Option<serde_json::Value>> {
        let iam = &self.account.clients.iam;
        let found = iam.get_user_policy().user_name(user).policy_name(name).send().await;
        absent_as_none(
            found,
            aws_sdk_iam::operation::get_user_policy::GetUserPolicyError::is_no_such_entity_exception,
        )?
        .map(|out| policy_json(out.policy_document()))
        .transpose()
    }

    /// Whether each of the instance's volumes goes with it on termination, by device.
    pub async fn delete_on_termination(&self, instance_id: &str) -> Result<BTreeMap<String, bool>> {
        let out = self
            .account
            .clients
            .ec2
            .describe_instances()
            .instance_ids(instance_id)
            .send()
            .await?;
        Ok(out
            .reservations()
            .iter()
            .flat_map(aws_sdk_ec2::types::Reservation::instances)
            .flat_map(aws_sdk_ec2::types::Instance::block_device_mappings)
            .filter_map(|m| {
                Some((
                    m.device_name()?.to_owned(),
                    m.ebs()?.delete_on_termination().unwrap_or(false),
                ))
            })
            .collect())
    }

    /// The names of the role's inline policies.
    pub async fn role_policy_names(&self, role: &str) -> Result<Vec<String>> {
        let listed = self
            .account
            .clients
            .iam
            .list_role_policies()
            .role_name(role)
            .send()
            .await?;
        Ok(listed.policy_names().to_vec())
    }

    /// An inline role policy's document, if the role has it.
    pub async fn role_policy(&self, role: &str, name: &str) -> Result<Option<serde_json::Value>> {
        let iam = &self.account.clients.iam;
        let found = iam.get_role_policy().role_name(role).policy_name(name).send().await;
        absent_as_none(
            found,
            aws_sdk_iam::operation::get_role_policy::GetRolePolicyError::is_no_such_entity_exception,
        )?
        .map(|out| policy_json(out.policy_document()))
        .transpose()
    }

    /// A security group's ingress and egress rules, as `tcp 22 from 0.0.0.0/0` lines.
    pub async fn group_rules(&self, group_id: &str) -> Result<(Vec<String>, Vec<String>)> {
        let out = self
            .account
            .clients
            .ec2
            .describe_security_groups()
            .group_ids(group_id)
            .send()
            .await?;
        let group = out.security_groups().first().context("group")?;
        let lines = |perms: &[IpPermission]| {
            let mut lines = Vec::new();
            for p in perms {
                let ports = match (p.ip_protocol(), p.from_port(), p.to_port()) {
                    (Some("-1"), _, _) => "all".to_owned(),
                    (Some(proto), Some(from), Some(to)) if from == to => format!("{proto} {from}"),
                    (Some(proto), Some(from), Some(to)) => format!("{proto} {from}-{to}"),
                    (proto, _, _) => proto.unwrap_or("?").to_owned(),
                };
                lines.extend(
                    p.ip_ranges()
                        .iter()
                        .map(|r| format!("{ports} from {}", r.cidr_ip().unwrap_or("?"))),
                );
                lines.extend(
                    p.ipv6_ranges()
                        .iter()
                        .map(|r| format!("{ports} from {}", r.cidr_ipv6().unwrap_or("?"))),
                );
                lines.extend(
                    p.user_id_group_pairs()
                        .iter()
                        .map(|g| format!("{ports} from {}", g.group_id().unwrap_or("?"))),
                );
            }
            lines.sort();
            lines
        };
        Ok((lines(group.ip_permissions()), lines(group.ip_permissions_egress())))
    }

    /// The bucket's public access block (four settings), if any.
    pub async fn public_access_block(&self, bucket: &str) -> Result<Option<[bool; 4]>> {
        match self
            .account
            .clients
            .s3
            .get_public_access_block()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(out) => Ok(out.public_access_block_configuration().map(|c| {
                [
                    c.block_public_acls().unwrap_or(false),
                    c.ignore_public_acls().unwrap_or(false),
                    c.block_public_policy().unwrap_or(false),
                    c.restrict_public_buckets().unwrap_or(false),
                ]
            })),
            Err(err)
                if aws_sdk_s3::error::ProvideErrorMetadata::code(&err)
                    == Some("NoSuchPublicAccessBlockConfiguration") =>
            {
                Ok(None)
            }
            Err(err) => Err(err.into()),
        }
    }

    /// The bucket's default encryption algorithm, if any.
    pub async fn bucket_encryption(&self, bucket: &str) -> Result<Option<String>> {
        match self
            .account
            .clients
            .s3
            .get_bucket_encryption()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .server_side_encryption_configuration()
                .and_then(|c| c.rules().first())
                .and_then(|r| r.apply_server_side_encryption_by_default())
                .map(|d| d.sse_algorithm().as_str().to_owned())),
            Err(err)
                if aws_sdk_s3::error::ProvideErrorMetadata::code(&err)
                    == Some("ServerSideEncryptionConfigurationNotFoundError") =>
            {
                Ok(None)
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Groups on each interface, by interface id.
    pub async fn interface_groups(&self, interfaces: &[String]) -> Result<BTreeMap<String, Vec<String>>> {
        let out = self
            .account
            .clients
            .ec2
            .describe_network_interfaces()
            .set_network_interface_ids(Some(interfaces.to_vec()))
            .send()
            .await?;
        Ok(out
            .network_interfaces()
            .iter()
            .map(|n| {
                let mut groups: Vec<String> = n
                    .groups()
                    .iter()
                    .filter_map(|g| g.group_id())
                    .map(ToOwned::to_owned)
                    .collect();
                groups.sort();
                (n.network_interface_id().unwrap_or_default().to_owned(), groups)
            })
            .collect())
    }

    /// The group in this VPC carrying `tourniquet:role=<role>`, with its rule count
    /// (ingress, egress) and whether it allows all traffic from and to anywhere (v4 and v6).
    pub async fn quarantine_group(&self, role: &str) -> Result<Option<QuarantineGroup>> {
        self.quarantine_group_in(&self.vpc_id, role).await
    }

    /// Like `quarantine_group`, in the VPC `vpc_id`.
    pub async fn quarantine_group_in(&self, vpc_id: &str, role: &str) -> Result<Option<QuarantineGroup>> {
        let out = self
            .account
            .clients
            .ec2
            .describe_security_groups()
            .filters(Filter::builder().name("vpc-id").values(vpc_id).build())
            .filters(Filter::builder().name("tag:tourniquet:role").values(role).build())
            .send()
            .await?;
        let groups = out.security_groups();
        anyhow::ensure!(groups.len() <= 1, "{} groups with role {role}", groups.len());
        Ok(groups.first().map(|g| {
            let all = |perms: &[IpPermission]| {
                perms.iter().any(|p| {
                    p.ip_protocol() == Some("-1")
                        && p.ip_ranges().iter().any(|r| r.cidr_ip() == Some("0.0.0.0/0"))
                        && p.ipv6_ranges().iter().any(|r| r.cidr_ipv6() == Some("::/0"))
                }) || (perms.iter().any(|p| {
                    p.ip_protocol() == Some("-1") && p.ip_ranges().iter().any(|r| r.cidr_ip() == Some("0.0.0.0/0"))
                }) && perms.iter().any(|p| {
                    p.ip_protocol() == Some("-1") && p.ipv6_ranges().iter().any(|r| r.cidr_ipv6() == Some("::/0"))
                }))
            };
            QuarantineGroup {
                id: g.group_id().unwrap_or_default().to_owned(),
                ingress: g.ip_permissions().len(),
                egress: g.ip_permissions_egress().len(),
                allows_all_in: all(g.ip_permissions()),
                allows_all_out: all(g.ip_permissions_egress()),
            }
        }))
    }

    /// The groups named `name` in the VPC `vpc_id`: each one's id and tags.
    pub async fn groups_named(&self, vpc_id: &str, name: &str) -> Result<Vec<(String, BTreeMap<String, String>)>> {
        let out = self
            .account
            .clients
            .ec2
            .describe_security_groups()
            .filters(Filter::builder().name("vpc-id").values(vpc_id).build())
            .filters(Filter::builder().name("group-name").values(name).build())
            .send()
            .await?;
        Ok(out
            .security_groups()
            .iter()
            .map(|g| {
                (
                    g.group_id().unwrap_or_default().to_owned(),
                    g.tags()
                        .iter()
                        .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
                        .collect(),
                )
            })
            .collect())
    }

    /// Snapshots carrying the incident tag for `instance_id`, with their tags.
    pub async fn snapshots(&self, instance_id: &str) -> Result<Vec<(String, String, BTreeMap<String, String>)>> {
        let out = self
            .account
            .clients
            .ec2
            .describe_snapshots()
            .owner_ids("self")
            .filters(
                Filter::builder()
                    .name("tag:tourniquet:instance-id")
                    .values(instance_id)
                    .build(),
            )
            .send()
            .await?;
        Ok(out
            .snapshots()
            .iter()
            .map(|s| {
                (
                    s.snapshot_id().unwrap_or_default().to_owned(),
                    s.volume_id().unwrap_or_default().to_owned(),
                    s.tags()
                        .iter()
                        .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
                        .collect(),
                )
            })
            .collect())
    }

    /// The instance's tags.
    pub async fn instance_tags(&self, instance_id: &str) -> Result<BTreeMap<String, String>> {
        let out = self
            .account
            .clients
            .ec2
            .describe_instances()
            .instance_ids(instance_id)
            .send()
            .await?;
        Ok(out
            .reservations()
            .iter()
            .flat_map(aws_sdk_ec2::types::Reservation::instances)
            .flat_map(aws_sdk_ec2::types::Instance::tags)
            .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
            .collect())
    }

    /// `DisableApiTermination`.
    pub async fn termination_protection(&self, instance_id: &str) -> Result<bool> {
        let out = self
            .account
            .clients
            .ec2
            .describe_instance_attribute()
            .instance_id(instance_id)
            .attribute(InstanceAttributeName::DisableApiTermination)
            .send()
            .await?;
        Ok(out
            .disable_api_termination()
            .and_then(AttributeBooleanValue::value)
            .unwrap_or(false))
    }

    /// Whether the Elastic IP is associated with anything.
    pub async fn elastic_ip_associated(&self) -> Result<bool> {
        let out = self
            .account
            .clients
            .ec2
            .describe_addresses()
            .public_ips(&self.elastic_ip)
            .send()
            .await?;
        Ok(out.addresses().iter().any(|a| a.association_id().is_some()))
    }

    /// Keys under `incidents/` in the evidence bucket.
    pub async fn evidence_keys(&self) -> Result<Vec<String>> {
        let out = self
            .account
            .clients
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix("incidents/")
            .send()
            .await?;
        Ok(out
            .contents()
            .iter()
            .filter_map(|o| o.key().map(ToOwned::to_owned))
            .collect())
    }

    /// An evidence object's JSON.
    pub async fn evidence(&self, key: &str) -> Result<serde_json::Value> {
        let out = self
            .account
            .clients
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await?;
        let bytes = out.body.collect().await?.to_vec();
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// Drains the page queue: every page that arrived since the last call.
    pub async fn pages(&self) -> Result<Vec<Page>> {
        let mut pages = Vec::new();
        for message in self.drain(&self.queue_url).await? {
            let envelope: serde_json::Value = serde_json::from_str(&message.body)?;
            let text = envelope["Message"].as_str().unwrap_or_default().to_owned();
            let json: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
            let message = serde_json::from_value::<playbook::page::Document>(json.clone())
                .map_or(text, |doc| playbook::page::email_text(&doc));
            pages.push(Page {
                subject: envelope["Subject"].as_str().unwrap_or_default().to_owned(),
                message,
                json,
                attributes: envelope["MessageAttributes"].clone(),
            });
        }
        Ok(pages)
    }

    /// Subscribes a new queue `name` to the page topic: with raw message delivery (the body is
    /// the message as published, attributes as SQS attributes) and a filter policy on the
    /// message attributes, if given. The queue's URL.
    pub async fn subscribe_queue(&self, name: &str, raw: bool, filter_policy: Option<&str>) -> Result<String> {
        let queue_url = self
            .account
            .sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await?
            .queue_url()
            .context("queue url")?
            .to_owned();
        let queue_arn = format!("arn:aws:sqs:{}:{}:{name}", crate::account::REGION, self.account.id);
        let mut subscribe = self
            .account
            .clients
            .sns
            .subscribe()
            .topic_arn(&self.topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn);
        if raw {
            subscribe = subscribe.attributes("RawMessageDelivery", "true");
        }
        if let Some(policy) = filter_policy {
            subscribe = subscribe.attributes("FilterPolicy", policy);
        }
        subscribe.send().await?;
        Ok(queue_url)
    }

    /// Drains a queue: every message that arrived since the last call.
    pub async fn drain(&self, queue_url: &str) -> Result<Vec<RawMessage>> {
        let mut messages = Vec::new();
        loop {
            let out = self
                .account
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .send()
                .await?;
            if out.messages().is_empty() {
                return Ok(messages);
            }
            for message in out.messages() {
                messages.push(RawMessage {
                    body: message.body().unwrap_or_default().to_owned(),
                    attributes: message
                        .message_attributes()
                        .into_iter()
                        .flatten()
                        .filter_map(|(k, v)| Some((k.clone(), v.string_value()?.to_owned())))
                        .collect(),
                });
                if let Some(handle) = message.receipt_handle() {
                    self.account
                        .sqs
                        .delete_message()
                        .queue_url(queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await?;
                }
            }
        }
    }
}

/// A policy document as IAM returns it (URL-encoded JSON, or plain JSON from some emulators).
/// A call's output, or `None` when the service says the thing asked for is not there.
/// The function an event is for: by its source, as each function's rules in template.yaml
/// take one source (an alarm action's direct payload: the alarm responder; anything else, a
/// request made by hand: the release).
#[must_use]
pub fn function_for(event: &serde_json::Value) -> &'static str {
    match event["source"].as_str() {
        Some("aws.guardduty") => "guardduty-responder",
        Some("aws.config") => "config-responder",
        Some("aws.cloudwatch") => "alarm-responder",
        Some("aws.securityhub") => "securityhub-responder",
        _ if event.get("alarmData").is_some() => "alarm-responder",
        _ => "quarantine-release",
    }
}

fn absent_as_none<T, E, R>(
    result: Result<T, aws_sdk_iam::error::SdkError<E, R>>,
    is_absent: impl Fn(&E) -> bool,
) -> Result<Option<T>>
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(err) if err.as_service_error().is_some_and(is_absent) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

fn policy_json(document: &str) -> Result<serde_json::Value> {
    let decoded = percent_decode(document);
    Ok(serde_json::from_str(&decoded).or_else(|_| serde_json::from_str(document))?)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A quarantine group as read back.
#[derive(Debug, Clone)]
pub struct QuarantineGroup {
    pub id: String,
    pub ingress: usize,
    pub egress: usize,
    pub allows_all_in: bool,
    pub allows_all_out: bool,
}
