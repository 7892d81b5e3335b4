//! Deterministic demo images: one small layer shared by two platforms (linux/amd64 and
//! linux/arm64, each with its own config and OCI manifest), an OCI image index over both, and a
//! Docker schema 2 manifest (linux/amd64), with correct digests. Tags `latest` and `v1` name the
//! index, `docker` names the Docker schema 2 manifest; every manifest is also served by digest.
//!
//! Real runtimes refuse a single-platform image of another architecture, so the index lets an
//! arm64 node pull too. A client whose Accept lists the OCI manifest type but neither index nor
//! manifest list type is served the linux/amd64 manifest instead of the index ([`Image::negotiate`]).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest v2 schema 2 media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list media type (accepted in place of the OCI index).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI config media type.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI gzip layer media type.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A platform of the demo images: (os, architecture, variant).
pub type Platform = (&'static str, &'static str, Option<&'static str>);

/// The platforms every demo image has, in index order; the first is the fallback.
pub const PLATFORMS: [Platform; 2] = [("linux", "amd64", None), ("linux", "arm64", Some("v8"))];

/// One repository's content.
#[derive(Debug, Clone)]
pub struct Image {
    /// Blobs by digest (`sha256:…`): the configs and the layer.
    pub blobs: BTreeMap<String, Vec<u8>>,
    /// Manifests and the index by digest: (media type, bytes).
    pub manifests: BTreeMap<String, (String, Vec<u8>)>,
    /// Tag → manifest digest.
    pub tags: BTreeMap<String, String>,
    /// (os, architecture) → digest of that platform's OCI manifest.
    pub platform_manifests: BTreeMap<(String, String), String>,
}

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn json_bytes(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec_pretty(v).unwrap_or_default()
}

fn platform_json((os, arch, variant): Platform) -> serde_json::Value {
    let mut p = serde_json::json!({"architecture": arch, "os": os});
    if let Some(v) = variant {
        p["variant"] = serde_json::json!(v);
    }
    p
}

impl Image {
    /// The demo image of `repository` (content depends only on the name).
    pub fn demo(repository: &str) -> Self {
        let file = format!("hello from {repository}\n");
        let tar = tar_one_file("hello.txt", file.as_bytes());
        let layer = gzip_stored(&tar);
        let layer_d = digest(&layer);
        let manifest = |mt: &str, config: &[u8], config_mt: &str, layer_mt: &str| {
            json_bytes(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": mt,
                "config": {"mediaType": config_mt, "digest": digest(config), "size": config.len()},
                "layers": [{"mediaType": layer_mt, "digest": layer_d, "size": layer.len()}],
            }))
        };
        let mut blobs = BTreeMap::new();
        let mut manifests = BTreeMap::new();
        let mut platform_manifests = BTreeMap::new();
        let mut entries = Vec::new();
        let mut docker = Vec::new();
        for platform in PLATFORMS {
            let mut config = platform_json(platform);
            config["config"] = serde_json::json!({"Cmd": ["/hello.txt"]});
            config["rootfs"] = serde_json::json!({"type": "layers", "diff_ids": [digest(&tar)]});
            let config = serde_json::to_vec(&config).unwrap_or_default();
            let oci = manifest(OCI_MANIFEST, &config, OCI_CONFIG, OCI_LAYER_GZIP);
            let oci_d = digest(&oci);
            entries.push(serde_json::json!({
                "mediaType": OCI_MANIFEST,
                "digest": oci_d,
                "size": oci.len(),
                "platform": platform_json(platform),
            }));
            if docker.is_empty() {
                // The Docker schema 2 manifest is the first (fallback) platform's.
                docker = manifest(
                    DOCKER_MANIFEST,
                    &config,
                    "application/vnd.docker.container.image.v1+json",
                    "application/vnd.docker.image.rootfs.diff.tar.gzip",
                );
            }
            platform_manifests.insert(
                (platform.0.to_owned(), platform.1.to_owned()),
                oci_d.clone(),
            );
            manifests.insert(oci_d, (OCI_MANIFEST.to_owned(), oci));
            blobs.insert(digest(&config), config);
        }
        let index = json_bytes(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": entries,
        }));
        let (index_d, docker_d) = (digest(&index), digest(&docker));
        blobs.insert(layer_d, layer);
        manifests.insert(index_d.clone(), (OCI_INDEX.to_owned(), index));
        manifests.insert(docker_d.clone(), (DOCKER_MANIFEST.to_owned(), docker));
        let mut tags = BTreeMap::new();
        tags.insert("latest".to_owned(), index_d.clone());
        tags.insert("v1".to_owned(), index_d);
        tags.insert("docker".to_owned(), docker_d);
        Self {
            blobs,
            manifests,
            tags,
            platform_manifests,
        }
    }

    /// A manifest (or the index) by tag or digest, as stored: (digest, media type, bytes).
    pub fn manifest(&self, reference: &str) -> Option<(String, &str, &[u8])> {
        let d = if reference.starts_with("sha256:") {
            reference.to_owned()
        } else {
            self.tags.get(reference)?.clone()
        };
        let (mt, bytes) = self.manifests.get(&d)?;
        Some((d, mt.as_str(), bytes.as_slice()))
    }

    /// Digest of the OCI manifest for `os`/`architecture` (`linux`/`amd64`, `linux`/`arm64`).
    pub fn platform_manifest(&self, os: &str, architecture: &str) -> Option<&str> {
        self.platform_manifests
            .get(&(os.to_owned(), architecture.to_owned()))
            .map(String::as_str)
    }

    /// What a `GET`/`HEAD` of `reference` serves to a client sending `accept` (all its Accept
    /// values, comma-joined): the stored manifest, except that an index goes to a client that
    /// lists the OCI manifest type but neither the index nor the manifest list type as the
    /// linux/amd64 manifest. No Accept, or `*/*`, gets the index.
    pub fn negotiate(
        &self,
        reference: &str,
        accept: Option<&str>,
    ) -> Option<(String, &str, &[u8])> {
        let found = self.manifest(reference)?;
        if found.1 != OCI_INDEX {
            return Some(found);
        }
        let Some(accept) = accept else {
            return Some(found);
        };
        let types: Vec<&str> = accept
            .split(',')
            .map(|t| t.split(';').next().unwrap_or_default().trim())
            .collect();
        let takes = |mt: &str| types.iter().any(|t| t.eq_ignore_ascii_case(mt));
        if takes(OCI_INDEX) || takes(DOCKER_MANIFEST_LIST) || takes("*/*") || !takes(OCI_MANIFEST) {
            return Some(found);
        }
        let (os, arch, _) = PLATFORMS[0];
        self.manifest(self.platform_manifest(os, arch)?)
    }
}

/// A ustar archive with one regular file (mode 0644, mtime 0, so the bytes are stable).
fn tar_one_file(name: &str, content: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    let octal = |buf: &mut [u8], v: u64| {
        let s = format!("{:0width$o}\0", v, width = buf.len() - 1);
        buf.copy_from_slice(s.as_bytes());
    };
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], content.len() as u64);
    octal(&mut h[136..148], 0);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    // The checksum is computed with its own field as spaces.
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// gzip with one stored (uncompressed) deflate block: valid gzip, no compressor needed.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    // Stored blocks hold at most 65535 bytes; demo layers are far smaller.
    let chunks: Vec<&[u8]> = data.chunks(65535).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        out.push(u8::from(i + 1 == chunks.len()));
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_images_are_deterministic_and_consistent() {
        let a = Image::demo("demo/private-app");
        let b = Image::demo("demo/private-app");
        assert_eq!(a.tags, b.tags);
        assert_ne!(
            a.tags["latest"],
            Image::demo("demo/public-app").tags["latest"]
        );
        for (d, (mt, bytes)) in &a.manifests {
            assert_eq!(*d, digest(bytes));
            let m: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            assert_eq!(m["mediaType"], mt.as_str());
            if mt == OCI_INDEX {
                for entry in m["manifests"].as_array().unwrap() {
                    let ed = entry["digest"].as_str().unwrap();
                    assert_eq!(
                        a.manifests[ed].1.len() as u64,
                        entry["size"].as_u64().unwrap()
                    );
                    assert_eq!(a.manifests[ed].0, entry["mediaType"].as_str().unwrap());
                }
                continue;
            }
            for blob in m["layers"].as_array().unwrap().iter().chain([&m["config"]]) {
                let bd = blob["digest"].as_str().unwrap();
                assert_eq!(a.blobs[bd].len() as u64, blob["size"].as_u64().unwrap());
                assert_eq!(digest(&a.blobs[bd]), bd);
            }
        }
        let (_, mt, _) = a.manifest("docker").unwrap();
        assert_eq!(mt, DOCKER_MANIFEST);
        assert!(a.manifest("nope").is_none());
    }

    #[test]
    fn latest_is_an_index_of_two_platforms_sharing_one_layer() {
        let a = Image::demo("team/private-app");
        let (d, mt, bytes) = a.manifest("latest").unwrap();
        assert_eq!((mt, &d), (OCI_INDEX, &a.tags["v1"]));
        let index: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        let entries = index["manifests"].as_array().unwrap();
        let platforms: Vec<(&str, &str)> = entries
            .iter()
            .map(|e| {
                (
                    e["platform"]["os"].as_str().unwrap(),
                    e["platform"]["architecture"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(platforms, [("linux", "amd64"), ("linux", "arm64")]);
        let mut layers = Vec::new();
        for e in entries {
            let arch = e["platform"]["architecture"].as_str().unwrap();
            let ed = e["digest"].as_str().unwrap();
            assert_eq!(a.platform_manifest("linux", arch), Some(ed));
            let m: serde_json::Value = serde_json::from_slice(&a.manifests[ed].1).unwrap();
            let config: serde_json::Value =
                serde_json::from_slice(&a.blobs[m["config"]["digest"].as_str().unwrap()]).unwrap();
            assert_eq!(config["architecture"], arch, "the config says the platform");
            assert_eq!(config["os"], "linux");
            assert_eq!(config["variant"], e["platform"]["variant"]);
            layers.push(m["layers"][0]["digest"].as_str().unwrap().to_owned());
        }
        assert_eq!(layers[0], layers[1]);
        let docker: serde_json::Value =
            serde_json::from_slice(a.manifest("docker").unwrap().2).unwrap();
        assert_eq!(docker["layers"][0]["digest"], layers[0].as_str());
        assert_eq!(a.blobs.len(), 3, "two configs and the layer");
    }

    #[test]
    fn accept_negotiation_falls_back_to_amd64_only_for_manifest_only_clients() {
        let a = Image::demo("demo/public-app");
        let index = a.tags["latest"].clone();
        let amd64 = a.platform_manifest("linux", "amd64").unwrap().to_owned();
        let served = |accept: Option<&str>| a.negotiate("latest", accept).unwrap().0;
        assert_eq!(served(None), index);
        assert_eq!(served(Some(&format!("{OCI_MANIFEST}, {OCI_INDEX}"))), index);
        assert_eq!(
            served(Some(&format!("{DOCKER_MANIFEST},{DOCKER_MANIFEST_LIST}"))),
            index
        );
        assert_eq!(served(Some("*/*")), index);
        assert_eq!(served(Some(&format!("{OCI_MANIFEST}; q=0.9"))), amd64);
        assert_eq!(
            served(Some(&format!("{DOCKER_MANIFEST}, {OCI_MANIFEST}"))),
            amd64
        );
        assert_eq!(
            a.negotiate("latest", Some(OCI_MANIFEST)).unwrap().1,
            OCI_MANIFEST
        );
        // A single manifest is served as it is, whatever the Accept.
        let docker = a.negotiate("docker", Some(OCI_MANIFEST)).unwrap();
        assert_eq!(
            (docker.0, docker.1),
            (a.tags["docker"].clone(), DOCKER_MANIFEST)
        );
        assert_eq!(a.negotiate(&amd64, Some(OCI_INDEX)).unwrap().0, amd64);
    }

    #[test]
    fn crc32_known_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }
}
