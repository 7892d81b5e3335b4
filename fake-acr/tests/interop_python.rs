//! Interop with Alibaba's official Python SDKs, unchanged (needs root: network namespace).
//!
//! fake-acr's binary runs inside a fresh network namespace on 127.0.0.1:443 with its generated
//! CA; `/etc/netns/<ns>/hosts` maps `cr.<region>.aliyuncs.com` and the registry hosts to it, so
//! the SDKs use their real endpoints. STS credentials come from fake-metadata (in-process, over
//! loopback). The SDKs: `alibabacloud-cr20181201` (V3) for GetAuthorizationToken, ListInstance,
//! ListInstanceEndpoint; `aliyun-python-sdk-core` CommonRequest for RPC V1 GetAuthorizationToken
//! and ROA `GET /tokens`; a wrong secret must surface as `SignatureDoesNotMatch` through each
//! SDK's own error type. Then oci-client pulls with the EE token the SDK obtained (tokens are
//! self-validating, so an in-process fake-acr with the same account secret accepts it).

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use fake_metadata::testing::{self, ChildGuard, NetNs};

const PYTHON_REQUIREMENTS: &[&str] = &[
    "alibabacloud-cr20181201==2.2.5",
    "alibabacloud-tea-openapi==0.4.6",
    "alibabacloud-credentials==1.0.12",
    "aliyun-python-sdk-core==2.16.1",
];

const PROBE: &str = r#"
import json, os, sys
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_cr20181201.client import Client as CrClient
from alibabacloud_cr20181201 import models as cr_models
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.request import CommonRequest
from aliyunsdkcore.acs_exception.exceptions import ServerException

ak, sk, token = os.environ["T_AK"], os.environ["T_SK"], os.environ["T_TOKEN"]
region, instance = "cn-hangzhou", "cri-hzdemo0000000001"
out = {}

def v3(secret):
    cfg = open_api_models.Config(access_key_id=ak, access_key_secret=secret, security_token=token,
                                 region_id=region, endpoint=f"cr.{region}.aliyuncs.com")
    return CrClient(cfg)

c = v3(sk)
r = c.get_authorization_token(cr_models.GetAuthorizationTokenRequest(instance_id=instance)).body
out["v3_token"] = {"user": r.temp_username, "password": r.authorization_token, "expire": r.expire_time, "code": r.code}
r = c.list_instance(cr_models.ListInstanceRequest(page_no=1, page_size=30)).body
out["v3_instances"] = [i.instance_id for i in r.instances]
r = c.list_instance_endpoint(cr_models.ListInstanceEndpointRequest(instance_id=instance, module_name="Registry")).body
out["v3_domains"] = [d.domain for e in r.endpoints for d in e.domains]
try:
    v3("wrong-secret").list_instance(cr_models.ListInstanceRequest())
    out["v3_wrong"] = "no error"
except Exception as e:
    out["v3_wrong"] = getattr(e, "code", type(e).__name__)

def core(secret):
    return AcsClient(region_id=region, credential=StsTokenCredential(ak, secret, token))

def rpc_request():
    req = CommonRequest(domain=f"cr.{region}.aliyuncs.com", version="2018-12-01", action_name="GetAuthorizationToken")
    req.set_method("POST")
    req.set_protocol_type("https")
    req.add_query_param("InstanceId", instance)
    return req

r = json.loads(core(sk).do_action_with_exception(rpc_request()))
out["rpc_token"] = {"user": r["TempUsername"], "code": r["Code"]}
req = CommonRequest(domain=f"cr.{region}.aliyuncs.com", version="2016-06-07", uri_pattern="/tokens")
req.set_method("GET")
req.set_protocol_type("https")
r = json.loads(core(sk).do_action_with_exception(req))
out["roa_token"] = {"user": r["data"]["tempUserName"], "expire": r["data"]["expireDate"]}
try:
    core("wrong-secret").do_action_with_exception(rpc_request())
    out["rpc_wrong"] = "no error"
except ServerException as e:
    out["rpc_wrong"] = e.get_error_code()

json.dump(out, open(sys.argv[1], "w"))
print("probe ok")
"#;

/// `/etc/netns/<ns>/hosts`, removed on drop (also on panic).
struct NetnsHosts {
    dir: PathBuf,
}

impl NetnsHosts {
    fn write(netns: &NetNs, hosts: &[String]) -> Self {
        let dir = Path::new("/etc/netns").join(netns.name());
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = String::from("127.0.0.1 localhost\n");
        for h in hosts {
            text.push_str(&format!("127.0.0.1 {h}\n"));
        }
        std::fs::write(dir.join("hosts"), text).unwrap();
        Self { dir }
    }
}

impl Drop for NetnsHosts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn official_python_sdks_then_oci_pull() {
    if !testing::privileged_or_skip("fake-acr interop runs the Python SDKs in a network namespace")
    {
        return;
    }
    let venv = tokio::task::spawn_blocking(|| testing::python_venv(PYTHON_REQUIREMENTS))
        .await
        .unwrap()
        .expect("python venv with the official SDKs");

    // STS credentials from fake-metadata, as a node's refresher would get them.
    let metadata = fake_metadata::FakeMetadata::start(fake_metadata::Settings::default())
        .await
        .expect("fake-metadata");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = metadata.base_url();
    let role = http
        .get(format!("{base}/latest/meta-data/ram/security-credentials/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let doc: serde_json::Value = http
        .get(format!(
            "{base}/latest/meta-data/ram/security-credentials/{}",
            role.trim()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let field = |k: &str| doc[k].as_str().unwrap().to_owned();

    // fake-acr's binary inside a namespace, reached by real host names.
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let netns = NetNs::create("facr").expect("network namespace");
    let world_hosts: Vec<String> = fake_acr::hosts::all(&fake_acr::Settings::default())
        .into_iter()
        .map(|(h, _)| h)
        .collect();
    let _hosts = NetnsHosts::write(&netns, &world_hosts);
    let mut command = netns.command(env!("CARGO_BIN_EXE_fake-acr"));
    command
        .args([
            "--listen",
            "127.0.0.1:443",
            "--admin-listen",
            "127.0.0.1:8102",
            "--tls-ca-out",
        ])
        .arg(&ca);
    let mut fake = ChildGuard::spawn("fake-acr", command).expect("spawn fake-acr");
    fake.wait_for_line("fake-acr listening", Duration::from_secs(30))
        .expect("fake-acr ready");
    let bundle = dir.path().join("bundle.pem");
    let mut pem = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    pem.push_str(&std::fs::read_to_string(&ca).unwrap());
    std::fs::write(&bundle, pem).unwrap();

    let out = dir.path().join("out.json");
    std::fs::write(dir.path().join("probe.py"), PROBE).unwrap();
    let mut py = netns.command(venv.join("bin").join("python"));
    py.arg(dir.path().join("probe.py"))
        .arg(&out)
        .env("T_AK", field("AccessKeyId"))
        .env("T_SK", field("AccessKeySecret"))
        .env("T_TOKEN", field("SecurityToken"));
    for v in [
        "REQUESTS_CA_BUNDLE",
        "SSL_CERT_FILE",
        "ALIBABA_CLOUD_CA_BUNDLE",
    ] {
        py.env(v, &bundle);
    }
    for v in fake_server_kit::testing::PROXY_VARIABLES {
        py.env_remove(v);
    }
    let stdout = tokio::task::spawn_blocking(move || testing::run(&mut py))
        .await
        .unwrap()
        .expect("python probe");
    assert!(stdout.contains("probe ok"), "{stdout}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(r["v3_token"]["user"], "cr_temp_user");
    assert_eq!(r["v3_token"]["code"], "success");
    assert_eq!(
        r["v3_instances"],
        serde_json::json!(["cri-hzdemo0000000001"])
    );
    assert_eq!(
        r["v3_domains"][0],
        "demo-hz-registry.cn-hangzhou.cr.aliyuncs.com"
    );
    assert_eq!(r["v3_wrong"], "SignatureDoesNotMatch");
    assert_eq!(r["rpc_token"]["code"], "success");
    assert_eq!(r["roa_token"]["user"], "cr_temp_user");
    assert_eq!(r["rpc_wrong"], "SignatureDoesNotMatch");
    // The fake saw the SDKs as the role fake-metadata vends.
    let log: Vec<serde_json::Value> = {
        let mut c = netns.command("curl");
        c.args(["-s", "http://127.0.0.1:8102/log"]);
        let text = tokio::task::spawn_blocking(move || testing::run(&mut c))
            .await
            .unwrap()
            .expect("admin log");
        serde_json::from_str(&text).unwrap()
    };
    let principal = format!("role/{}", role.trim());
    assert!(
        log.iter().any(|e| e["action"] == "GetAuthorizationToken"
            && e["principal"] == principal.as_str()
            && e["result"] == "Success"),
        "{log:?}"
    );
    drop(fake);

    // A real OCI client pulls with the password the official SDK obtained.
    let w = support::start(fake_acr::Settings {
        advertised_port: Some(443),
        ..Default::default()
    })
    .await;
    let (proxy, _task) = support::connect_proxy(w.fake.addr(), w.fake.hosts()).await;
    let client = oci_client::Client::new(oci_client::client::ClientConfig {
        extra_root_certificates: vec![oci_client::client::Certificate {
            encoding: oci_client::client::CertificateEncoding::Pem,
            data: w.fake.ca_pem().as_bytes().to_vec(),
        }],
        https_proxy: Some(format!("http://{proxy}")),
        ..Default::default()
    });
    let auth = oci_client::secrets::RegistryAuth::Basic(
        r["v3_token"]["user"].as_str().unwrap().to_owned(),
        r["v3_token"]["password"].as_str().unwrap().to_owned(),
    );
    let image: oci_client::Reference =
        "demo-hz-registry.cn-hangzhou.cr.aliyuncs.com/team/private-app:latest"
            .parse()
            .unwrap();
    let pulled = client
        .pull(
            &image,
            &auth,
            vec![oci_client::manifest::IMAGE_LAYER_GZIP_MEDIA_TYPE],
        )
        .await
        .expect("oci-client pulls with the SDK's token");
    assert_eq!(pulled.layers.len(), 1);
    let other: oci_client::Reference =
        "demo-bj-registry.cn-beijing.cr.aliyuncs.com/team/private-app:latest"
            .parse()
            .unwrap();
    assert!(
        client
            .pull(
                &other,
                &auth,
                vec![oci_client::manifest::IMAGE_LAYER_GZIP_MEDIA_TYPE]
            )
            .await
            .is_err()
    );
}
