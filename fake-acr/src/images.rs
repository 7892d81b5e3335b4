//! Deterministic demo images: one small layer, a config and two manifests (OCI and Docker
//! schema 2) per repository, with correct digests. Tags `latest` and `v1` name the OCI
//! manifest, `docker` names the Docker schema 2 manifest; both are also served by digest.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker image manifest v2 schema 2 media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// One repository's content.
#[derive(Debug, Clone)]
pub struct Image {
    /// Blobs by digest (`sha256:…`): the config and the layer.
    pub blobs: BTreeMap<String, Vec<u8>>,
    /// Manifests by digest: (media type, bytes).
    pub manifests: BTreeMap<String, (String, Vec<u8>)>,
    /// Tag → manifest digest.
    pub tags: BTreeMap<String, String>,
}

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

impl Image {
    /// The demo image of `repository` (content depends only on the name).
    pub fn demo(repository: &str) -> Self {
        let file = format!("hello from {repository}\n");
        let tar = tar_one_file("hello.txt", file.as_bytes());
        let layer = gzip_stored(&tar);
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/hello.txt"]},
            "rootfs": {"type": "layers", "diff_ids": [digest(&tar)]},
        });
        let config = serde_json::to_vec(&config).unwrap_or_default();
        let manifest = |mt: &str, config_mt: &str, layer_mt: &str| {
            let m = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": mt,
                "config": {"mediaType": config_mt, "digest": digest(&config), "size": config.len()},
                "layers": [{"mediaType": layer_mt, "digest": digest(&layer), "size": layer.len()}],
            });
            serde_json::to_vec_pretty(&m).unwrap_or_default()
        };
        let oci = manifest(
            OCI_MANIFEST,
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        );
        let docker = manifest(
            DOCKER_MANIFEST,
            "application/vnd.docker.container.image.v1+json",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        );
        let (oci_d, docker_d) = (digest(&oci), digest(&docker));
        let mut blobs = BTreeMap::new();
        blobs.insert(digest(&config), config);
        blobs.insert(digest(&layer), layer);
        let mut manifests = BTreeMap::new();
        manifests.insert(oci_d.clone(), (OCI_MANIFEST.to_owned(), oci));
        manifests.insert(docker_d.clone(), (DOCKER_MANIFEST.to_owned(), docker));
        let mut tags = BTreeMap::new();
        tags.insert("latest".to_owned(), oci_d.clone());
        tags.insert("v1".to_owned(), oci_d);
        tags.insert("docker".to_owned(), docker_d);
        Self {
            blobs,
            manifests,
            tags,
        }
    }

    /// A manifest by tag or digest: (digest, media type, bytes).
    pub fn manifest(&self, reference: &str) -> Option<(String, &str, &[u8])> {
        let d = if reference.starts_with("sha256:") {
            reference.to_owned()
        } else {
            self.tags.get(reference)?.clone()
        };
        let (mt, bytes) = self.manifests.get(&d)?;
        Some((d, mt.as_str(), bytes.as_slice()))
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
        for (d, (_, bytes)) in &a.manifests {
            assert_eq!(*d, digest(bytes));
            let m: serde_json::Value = serde_json::from_slice(bytes).unwrap();
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
    fn crc32_known_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }
}
