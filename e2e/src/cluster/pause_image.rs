//! The node's sandbox (pause) image, made here because no registry is reachable to pull one: an
//! OCI image layout archive (`ctr images import` reads it) with one uncompressed layer holding the
//! `pause` binary built with the runtime, for the host's architecture.

use sha2::{Digest, Sha256};

/// The image name containerd is told to use as its sandbox image.
pub const PAUSE_IMAGE: &str = "localhost/acr-conformance/pause:1";

/// The OCI architecture name of the machine.
fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One ustar entry: a regular file (`mode`) or, with `None` content, a directory.
fn tar_entry(out: &mut Vec<u8>, name: &str, mode: u32, content: Option<&[u8]>) {
    let mut header = [0u8; 512];
    let put = |header: &mut [u8; 512], at: usize, bytes: &[u8]| {
        header[at..at + bytes.len()].copy_from_slice(bytes);
    };
    let octal = |width: usize, value: u64| format!("{value:0w$o}\0", w = width - 1);
    put(&mut header, 0, name.as_bytes());
    put(&mut header, 100, octal(8, u64::from(mode)).as_bytes());
    put(&mut header, 108, octal(8, 0).as_bytes());
    put(&mut header, 116, octal(8, 0).as_bytes());
    let size = content.map_or(0, |c| c.len() as u64);
    put(&mut header, 124, octal(12, size).as_bytes());
    put(&mut header, 136, octal(12, 0).as_bytes());
    header[156] = if content.is_some() { b'0' } else { b'5' };
    put(&mut header, 257, b"ustar\0");
    put(&mut header, 263, b"00");
    // The checksum is computed with its own field as spaces.
    put(&mut header, 148, b"        ");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    put(&mut header, 148, format!("{sum:06o}\0 ").as_bytes());
    out.extend_from_slice(&header);
    if let Some(content) = content {
        out.extend_from_slice(content);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
}

fn tar_finish(out: &mut Vec<u8>) {
    out.resize(out.len() + 1024, 0);
}

/// The image archive for `pause` (the binary's bytes): an OCI layout whose index names the image
/// [`PAUSE_IMAGE`].
pub fn archive(pause: &[u8]) -> Vec<u8> {
    let mut layer = Vec::new();
    tar_entry(&mut layer, "pause", 0o755, Some(pause));
    tar_finish(&mut layer);
    let layer_digest = sha256(&layer);
    let config = serde_json::json!({
        "architecture": architecture(),
        "os": "linux",
        "config": { "Entrypoint": ["/pause"] },
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{layer_digest}")] },
    })
    .to_string()
    .into_bytes();
    let config_digest = sha256(&config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{config_digest}"),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": format!("sha256:{layer_digest}"),
            "size": layer.len(),
        }],
    })
    .to_string()
    .into_bytes();
    let manifest_digest = sha256(&manifest);
    let tag = PAUSE_IMAGE.rsplit_once(':').map_or("latest", |(_, t)| t);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest_digest}"),
            "size": manifest.len(),
            "platform": { "architecture": architecture(), "os": "linux" },
            "annotations": {
                "io.containerd.image.name": PAUSE_IMAGE,
                "org.opencontainers.image.ref.name": tag,
            },
        }],
    })
    .to_string()
    .into_bytes();

    let mut out = Vec::new();
    tar_entry(
        &mut out,
        "oci-layout",
        0o644,
        Some(br#"{"imageLayoutVersion":"1.0.0"}"#),
    );
    tar_entry(&mut out, "index.json", 0o644, Some(&index));
    tar_entry(&mut out, "blobs/", 0o755, None);
    tar_entry(&mut out, "blobs/sha256/", 0o755, None);
    for (digest, bytes) in [
        (&layer_digest, &layer),
        (&config_digest, &config),
        (&manifest_digest, &manifest),
    ] {
        tar_entry(
            &mut out,
            &format!("blobs/sha256/{digest}"),
            0o644,
            Some(bytes),
        );
    }
    tar_finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_archive_is_a_tar_that_tar_lists() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("pause.tar");
        std::fs::write(&path, archive(b"#!/bin/true\n")).expect("write archive");
        let out = std::process::Command::new("tar")
            .arg("-tvf")
            .arg(&path)
            .output()
            .expect("run tar");
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "tar -tvf failed: {out:?}");
        assert!(listing.contains("index.json"), "{listing}");
        assert_eq!(
            listing.matches("blobs/sha256/").count(),
            4,
            "directory and three blobs: {listing}"
        );
    }

    #[test]
    fn the_layer_digest_in_the_manifest_is_the_layers_sha256() {
        let bytes = archive(b"pause");
        let text = String::from_utf8_lossy(&bytes);
        let start = text.find("\"diff_ids\":[\"sha256:").expect("diff_ids") + 20;
        let digest = &text[start..start + 64];
        assert!(
            text.contains(&format!("blobs/sha256/{digest}")),
            "layer blob named by its digest"
        );
    }
}
