//! Launching an admitted job: creating what `spark-submit` (or the Spark operator) would.
//!
//! Every object a launch creates has a name derived from the job alone, so launching twice
//! creates nothing new: a create that finds the object already there adopts it. That is what
//! makes a restart between "admitted" and "status written" safe.

use std::collections::BTreeMap;
use std::fmt::Debug;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    ObjectFieldSelector, Pod, PodSpec, ResourceRequirements, Service, ServicePort, ServiceSpec,
    Toleration as K8sToleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, ResourceExt};
use serde_json::json;
use sparkq_core::JobPods;
use sparkq_core::quantity::{format_bytes, format_cpu};

use crate::crd::SparkJob;
use crate::view::{APP_ID_LABEL, APP_NAME_LABEL, JOB_LABEL, ROLE_LABEL};

/// Why a launch failed. The controller retries it.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("creating {what} {name}: {source}")]
    Create {
        what: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("the job has no uid yet")]
    NoUid,
}

/// Creates whatever starts an admitted job's driver.
pub trait Launcher: Send + Sync + Debug {
    /// The name the driver pod will have, known before it exists.
    fn driver_pod_name(&self, job: &SparkJob) -> String;

    /// Creates the job's objects; those that already exist are adopted.
    fn launch<'a>(
        &'a self,
        client: &'a Client,
        job: &'a SparkJob,
        pods: &'a JobPods,
    ) -> BoxFuture<'a, Result<(), LaunchError>>;
}

/// A name of at most 63 characters derived from the job's, unique per job name.
pub fn base_name(job_name: &str) -> String {
    if job_name.len() <= 40 {
        return job_name.to_owned();
    }
    // FNV-1a, so long names that share a prefix stay apart.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in job_name.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    let cut = job_name
        .char_indices()
        .take_while(|(i, _)| *i < 31)
        .last()
        .map_or(0, |(i, c)| i + c.len_utf8());
    format!("{}-{hash:08x}", job_name[..cut].trim_end_matches('-'))
}

/// Spark's application id for the job: stable across restarts, unique per job object.
pub fn app_id(job: &SparkJob) -> String {
    let uid: String =
        job.uid().unwrap_or_default().chars().filter(char::is_ascii_hexdigit).collect();
    format!("spark-{}", &uid[..uid.len().min(32)])
}

fn owner(job: &SparkJob) -> Result<OwnerReference, LaunchError> {
    Ok(OwnerReference {
        api_version: format!("{}/{}", crate::crd::GROUP, crate::crd::VERSION),
        kind: "SparkJob".into(),
        name: job.name_any(),
        uid: job.uid().ok_or(LaunchError::NoUid)?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

async fn create_or_adopt<K>(api: &Api<K>, object: &K, what: &'static str) -> Result<(), LaunchError>
where
    K: kube::Resource + Clone + Debug + serde::Serialize + serde::de::DeserializeOwned,
{
    match api.create(&PostParams::default(), object).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => {
            tracing::debug!(what, name = %object.name_any(), "already there: adopted");
            Ok(())
        }
        Err(source) => Err(LaunchError::Create { what, name: object.name_any(), source }),
    }
}

/// Creates the driver pod the way `spark-submit --deploy-mode cluster` does on Kubernetes:
/// a ConfigMap with the properties file, a headless Service for the driver's ports, and the
/// driver pod running `driver --properties-file ...`, all owned by the `SparkJob`.
#[derive(Clone, Debug)]
pub struct DriverPodLauncher {
    /// Where Spark's image keeps its configuration.
    pub conf_dir: String,
    /// The Kubernetes API URL the driver uses to create executors.
    pub master: String,
}

impl Default for DriverPodLauncher {
    fn default() -> DriverPodLauncher {
        DriverPodLauncher {
            conf_dir: "/opt/spark/conf".into(),
            master: "k8s://https://kubernetes.default.svc".into(),
        }
    }
}

const DRIVER_PORT: i32 = 7078;
const BLOCK_MANAGER_PORT: i32 = 7079;
const UI_PORT: i32 = 4040;

impl DriverPodLauncher {
    fn service_name(job: &SparkJob) -> String {
        format!("{}-driver-svc", base_name(&job.name_any()))
    }

    fn config_map_name(job: &SparkJob) -> String {
        format!("{}-spark-conf", base_name(&job.name_any()))
    }

    /// The properties the driver reads: the job's Spark conf and what spark-submit adds.
    pub fn properties(&self, job: &SparkJob) -> BTreeMap<String, String> {
        let namespace = job.namespace().unwrap_or_default();
        let mut conf = job.spec.effective_conf().unwrap_or_else(|_| job.spec.spark_conf.clone());
        let base = base_name(&job.name_any());
        let mut put = |key: &str, value: String| {
            conf.insert(key.to_owned(), value);
        };
        put("spark.master", self.master.clone());
        put("spark.submit.deployMode", "cluster".into());
        put("spark.app.name", job.name_any());
        put("spark.app.id", app_id(job));
        put("spark.kubernetes.namespace", namespace.clone());
        put("spark.kubernetes.container.image", job.spec.image.clone());
        put("spark.kubernetes.driver.pod.name", self.driver_pod_name(job));
        put("spark.kubernetes.executor.podNamePrefix", base);
        put("spark.driver.host", format!("{}.{namespace}.svc", Self::service_name(job)));
        put("spark.driver.port", DRIVER_PORT.to_string());
        put("spark.driver.blockManager.port", BLOCK_MANAGER_PORT.to_string());
        put(&format!("spark.kubernetes.executor.label.{JOB_LABEL}"), job.name_any());
        put(&format!("spark.kubernetes.driver.label.{JOB_LABEL}"), job.name_any());
        if let Some(account) = &job.spec.service_account {
            put("spark.kubernetes.authenticate.driver.serviceAccountName", account.clone());
        }
        for (key, value) in &job.spec.node_selector {
            put(&format!("spark.kubernetes.node.selector.{key}"), value.clone());
        }
        if !job.spec.tolerations.is_empty() {
            // Spark has no property for tolerations: the executors get them from a pod
            // template, which the driver reads from the mounted configuration.
            put(
                "spark.kubernetes.executor.podTemplateFile",
                format!("{}/{EXECUTOR_TEMPLATE}", self.conf_dir),
            );
        }
        conf
    }

    /// The executors' pod template: only what Spark's properties cannot say.
    pub fn executor_template(&self, job: &SparkJob) -> Option<String> {
        let tolerations = tolerations(job);
        if tolerations.is_empty() {
            return None;
        }
        let template = Pod {
            spec: Some(PodSpec { tolerations: Some(tolerations), ..PodSpec::default() }),
            ..Pod::default()
        };
        // JSON is YAML, which is what Spark reads the template as.
        serde_json::to_string_pretty(&template).ok()
    }

    /// The properties file's text, sorted by key.
    pub fn properties_file(&self, job: &SparkJob) -> String {
        self.properties(job)
            .iter()
            .map(|(k, v)| format!("{}={}\n", escape_property(k), escape_property(v)))
            .collect()
    }

    fn labels(job: &SparkJob) -> BTreeMap<String, String> {
        let mut app_name: String = job
            .name_any()
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' })
            .collect();
        app_name.truncate(63);
        BTreeMap::from([
            (APP_ID_LABEL.to_owned(), app_id(job)),
            (APP_NAME_LABEL.to_owned(), app_name.trim_matches('-').to_owned()),
            (ROLE_LABEL.to_owned(), "driver".to_owned()),
            (JOB_LABEL.to_owned(), job.name_any()),
        ])
    }

    /// The driver container's arguments, as spark-submit writes them.
    pub fn driver_args(&self, job: &SparkJob) -> Vec<String> {
        let spec = &job.spec;
        let class = match spec.app_type.as_deref() {
            Some("python") => "org.apache.spark.deploy.PythonRunner".to_owned(),
            Some("r") => "org.apache.spark.deploy.RRunner".to_owned(),
            _ => spec.main_class.clone().unwrap_or_default(),
        };
        let resource =
            spec.main_application_file.clone().unwrap_or_else(|| "spark-internal".into());
        let mut args = vec![
            "driver".to_owned(),
            "--properties-file".to_owned(),
            format!("{}/spark.properties", self.conf_dir),
            "--class".to_owned(),
            class,
            resource,
        ];
        args.extend(spec.arguments.iter().cloned());
        args
    }

    /// The driver pod, requesting exactly what the core reserved for it.
    pub fn driver_pod(&self, job: &SparkJob, pods: &JobPods) -> Result<Pod, LaunchError> {
        let request = &pods.driver;
        let mut requests = BTreeMap::from([
            ("cpu".to_owned(), Quantity(format_cpu(request.cpu_millis))),
            ("memory".to_owned(), Quantity(format_bytes(request.memory_bytes))),
        ]);
        for (name, amount) in &request.extended {
            requests.insert(name.to_string(), Quantity(amount.to_string()));
        }
        let mut limits =
            BTreeMap::from([("memory".to_owned(), Quantity(format_bytes(request.memory_bytes)))]);
        for (name, amount) in &request.extended {
            limits.insert(name.to_string(), Quantity(amount.to_string()));
        }
        let env = |name: &str, value: &str| EnvVar {
            name: name.into(),
            value: Some(value.into()),
            ..EnvVar::default()
        };
        let port = |name: &str, number: i32| ContainerPort {
            name: Some(name.into()),
            container_port: number,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        };
        let container = Container {
            name: "spark-kubernetes-driver".into(),
            image: Some(job.spec.image.clone()),
            args: Some(self.driver_args(job)),
            env: Some(vec![
                EnvVar {
                    name: "SPARK_DRIVER_BIND_ADDRESS".into(),
                    value_from: Some(EnvVarSource {
                        field_ref: Some(ObjectFieldSelector {
                            field_path: "status.podIP".into(),
                            ..ObjectFieldSelector::default()
                        }),
                        ..EnvVarSource::default()
                    }),
                    ..EnvVar::default()
                },
                env("SPARK_CONF_DIR", &self.conf_dir),
                env("SPARK_APPLICATION_ID", &app_id(job)),
            ]),
            ports: Some(vec![
                port("driver-rpc-port", DRIVER_PORT),
                port("blockmanager", BLOCK_MANAGER_PORT),
                port("spark-ui", UI_PORT),
            ]),
            resources: Some(ResourceRequirements {
                requests: Some(requests),
                limits: Some(limits),
                ..ResourceRequirements::default()
            }),
            volume_mounts: Some(vec![VolumeMount {
                name: "spark-conf-volume-driver".into(),
                mount_path: self.conf_dir.clone(),
                ..VolumeMount::default()
            }]),
            ..Container::default()
        };
        let tolerations = tolerations(job);
        Ok(Pod {
            metadata: ObjectMeta {
                name: Some(self.driver_pod_name(job)),
                namespace: job.namespace(),
                labels: Some(Self::labels(job)),
                owner_references: Some(vec![owner(job)?]),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                containers: vec![container],
                restart_policy: Some("Never".into()),
                service_account_name: job.spec.service_account.clone(),
                node_selector: (!job.spec.node_selector.is_empty())
                    .then(|| job.spec.node_selector.clone()),
                tolerations: (!tolerations.is_empty()).then_some(tolerations),
                volumes: Some(vec![Volume {
                    name: "spark-conf-volume-driver".into(),
                    config_map: Some(ConfigMapVolumeSource {
                        name: Self::config_map_name(job),
                        ..ConfigMapVolumeSource::default()
                    }),
                    ..Volume::default()
                }]),
                ..PodSpec::default()
            }),
            status: None,
        })
    }

    fn config_map(&self, job: &SparkJob) -> Result<ConfigMap, LaunchError> {
        Ok(ConfigMap {
            metadata: ObjectMeta {
                name: Some(Self::config_map_name(job)),
                namespace: job.namespace(),
                labels: Some(BTreeMap::from([(JOB_LABEL.to_owned(), job.name_any())])),
                owner_references: Some(vec![owner(job)?]),
                ..ObjectMeta::default()
            },
            data: Some(
                [("spark.properties".to_owned(), Some(self.properties_file(job)))]
                    .into_iter()
                    .chain([(EXECUTOR_TEMPLATE.to_owned(), self.executor_template(job))])
                    .filter_map(|(key, text)| Some((key, text?)))
                    .collect(),
            ),
            ..ConfigMap::default()
        })
    }

    fn service(&self, job: &SparkJob) -> Result<Service, LaunchError> {
        let port = |name: &str, number: i32| ServicePort {
            name: Some(name.into()),
            port: number,
            protocol: Some("TCP".into()),
            ..ServicePort::default()
        };
        let mut selector = Self::labels(job);
        selector.remove(APP_NAME_LABEL);
        selector.remove(JOB_LABEL);
        Ok(Service {
            metadata: ObjectMeta {
                name: Some(Self::service_name(job)),
                namespace: job.namespace(),
                labels: Some(BTreeMap::from([(JOB_LABEL.to_owned(), job.name_any())])),
                owner_references: Some(vec![owner(job)?]),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                cluster_ip: Some("None".into()),
                selector: Some(selector),
                ports: Some(vec![
                    port("driver-rpc-port", DRIVER_PORT),
                    port("blockmanager", BLOCK_MANAGER_PORT),
                    port("spark-ui", UI_PORT),
                ]),
                ..ServiceSpec::default()
            }),
            status: None,
        })
    }
}

/// The executors' pod template in the driver's configuration folder.
const EXECUTOR_TEMPLATE: &str = "executor-pod-template.yaml";

/// The job's tolerations as Kubernetes writes them.
fn tolerations(job: &SparkJob) -> Vec<K8sToleration> {
    job.spec
        .tolerations
        .iter()
        .map(|t| K8sToleration {
            key: t.key.clone(),
            operator: t.operator.clone(),
            value: t.value.clone(),
            effect: t.effect.clone(),
            ..K8sToleration::default()
        })
        .collect()
}

/// Escapes a key or value for a Java properties file.
fn escape_property(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '=' => out.push_str("\\="),
            ':' => out.push_str("\\:"),
            '#' => out.push_str("\\#"),
            '!' => out.push_str("\\!"),
            c => out.push(c),
        }
    }
    out
}

impl Launcher for DriverPodLauncher {
    fn driver_pod_name(&self, job: &SparkJob) -> String {
        format!("{}-driver", base_name(&job.name_any()))
    }

    fn launch<'a>(
        &'a self,
        client: &'a Client,
        job: &'a SparkJob,
        pods: &'a JobPods,
    ) -> BoxFuture<'a, Result<(), LaunchError>> {
        Box::pin(async move {
            let namespace = job.namespace().unwrap_or_default();
            let config_map = self.config_map(job)?;
            let service = self.service(job)?;
            let pod = self.driver_pod(job, pods)?;
            create_or_adopt(
                &Api::<ConfigMap>::namespaced(client.clone(), &namespace),
                &config_map,
                "configmap",
            )
            .await?;
            create_or_adopt(
                &Api::<Service>::namespaced(client.clone(), &namespace),
                &service,
                "service",
            )
            .await?;
            create_or_adopt(&Api::<Pod>::namespaced(client.clone(), &namespace), &pod, "pod").await
        })
    }
}

/// Creates a `sparkoperator.k8s.io/v1beta2` `SparkApplication` for clusters that run the
/// Spark operator; the operator then runs spark-submit.
#[derive(Clone, Debug, Default)]
pub struct SparkApplicationLauncher {
    /// The `sparkVersion` field the operator requires.
    pub spark_version: String,
}

impl SparkApplicationLauncher {
    fn api_resource() -> ApiResource {
        let gvk = GroupVersionKind::gvk("sparkoperator.k8s.io", "v1beta2", "SparkApplication");
        ApiResource::from_gvk_with_plural(&gvk, "sparkapplications")
    }

    /// The SparkApplication for the job.
    pub fn application(&self, job: &SparkJob) -> Result<DynamicObject, LaunchError> {
        let spec = &job.spec;
        let kind = match spec.app_type.as_deref() {
            Some("python") => "Python",
            Some("r") => "R",
            _ => "Scala",
        };
        let labels = json!({JOB_LABEL: job.name_any()});
        let pod = |p: &crate::crd::SparkPodResources| {
            let mut v = json!({"labels": labels});
            if let Some(cores) = p.cores {
                v["cores"] = json!(cores);
            }
            if let Some(request) = &p.core_request {
                v["coreRequest"] = json!(request);
            }
            if let Some(memory) = &p.memory {
                v["memory"] = json!(memory);
            }
            if let Some(overhead) = &p.memory_overhead {
                v["memoryOverhead"] = json!(overhead);
            }
            if !spec.tolerations.is_empty() {
                v["tolerations"] = json!(tolerations(job));
            }
            v
        };
        let mut driver = pod(&spec.driver);
        if let Some(account) = &spec.service_account {
            driver["serviceAccount"] = json!(account);
        }
        let mut executor = pod(&spec.executor.pod);
        if let Some(instances) = spec.executor.instances {
            executor["instances"] = json!(instances);
        }
        let mut app_spec = json!({
            "type": kind,
            "mode": "cluster",
            "image": spec.image,
            "sparkVersion": self.spark_version,
            "arguments": spec.arguments,
            "sparkConf": spec.spark_conf,
            "driver": driver,
            "executor": executor,
            "restartPolicy": {"type": "Never"},
        });
        if let Some(class) = &spec.main_class {
            app_spec["mainClass"] = json!(class);
        }
        if let Some(file) = &spec.main_application_file {
            app_spec["mainApplicationFile"] = json!(file);
        }
        if !spec.node_selector.is_empty() {
            app_spec["nodeSelector"] = json!(spec.node_selector);
        }
        if let Some(dynamic) = &spec.dynamic_allocation {
            app_spec["dynamicAllocation"] = json!(dynamic);
        }
        let mut object = DynamicObject::new(&job.name_any(), &Self::api_resource())
            .within(&job.namespace().unwrap_or_default());
        object.metadata.labels = Some(BTreeMap::from([(JOB_LABEL.to_owned(), job.name_any())]));
        object.metadata.owner_references = Some(vec![owner(job)?]);
        object.data = json!({"spec": app_spec});
        Ok(object)
    }
}

impl Launcher for SparkApplicationLauncher {
    fn driver_pod_name(&self, job: &SparkJob) -> String {
        format!("{}-driver", job.name_any())
    }

    fn launch<'a>(
        &'a self,
        client: &'a Client,
        job: &'a SparkJob,
        _pods: &'a JobPods,
    ) -> BoxFuture<'a, Result<(), LaunchError>> {
        Box::pin(async move {
            let namespace = job.namespace().unwrap_or_default();
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), &namespace, &Self::api_resource());
            create_or_adopt(&api, &self.application(job)?, "sparkapplication").await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_job_names_give_short_distinct_object_names() {
        let a = base_name(&"a".repeat(100));
        let b = base_name(&format!("{}b", "a".repeat(99)));
        assert!(a.len() <= 40 && b.len() <= 40);
        assert_ne!(a, b);
        assert_eq!(base_name("short"), "short");
        assert!(format!("{a}-driver-svc").len() <= 63, "a service name is a DNS label");
    }

    #[test]
    fn properties_escape_what_java_would_misread() {
        assert_eq!(escape_property("a=b:c#d"), "a\\=b\\:c\\#d");
        assert_eq!(escape_property("line\nnext"), "line\\nnext");
    }
}
