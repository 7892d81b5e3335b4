//! [`FakeImage`] (feature `testcontainers`): what both fakes' `testcontainers::Image` share —
//! image name and tag, settings as the binary's environment variables (secrets never in
//! `Debug`), files copied in, the two listener ports, the ready line, publishing on loopback.
//! Each fake wraps one and adds its own `with_*` settings and endpoints.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use ::testcontainers::bollard::models::PortBinding;
use ::testcontainers::core::{ContainerPort, CopyDataSource, CopyToContainer, WaitFor};
use ::testcontainers::{
    ContainerAsync, ContainerRequest, Image, ImageExt as _, TestcontainersError,
};

/// Tag `just images` moves to the latest build.
pub const IMAGE_TAG: &str = "dev";

/// One fake's container image and its settings.
#[derive(Clone)]
pub struct FakeImage {
    name: String,
    tag: String,
    env: BTreeMap<&'static str, String>,
    /// The main and admin listeners inside the container.
    ports: [ContainerPort; 2],
    ready_line: &'static str,
    /// Set by [`FakeImage::on_loopback`]: the ports are on 127.0.0.1 whatever host the engine reports.
    loopback: bool,
    /// Files copied in, by their path in the container.
    copies: Vec<(String, CopyToContainer)>,
}

impl FakeImage {
    /// `name:dev`, listening on `ports` (main, admin), ready once stdout shows `ready_line`.
    pub fn new(name: &str, ports: [ContainerPort; 2], ready_line: &'static str) -> Self {
        Self {
            name: name.to_owned(),
            tag: IMAGE_TAG.to_owned(),
            env: BTreeMap::new(),
            ports,
            ready_line,
            loopback: false,
            copies: Vec::new(),
        }
    }

    /// Uses another image, e.g. a `:src-<hash>` tag or a build pushed elsewhere.
    pub fn with_image(mut self, name: impl Into<String>, tag: impl Into<String>) -> Self {
        self.name = name.into();
        self.tag = tag.into();
        self
    }

    /// Sets one of the binary's environment variables.
    pub fn set(mut self, key: &'static str, value: String) -> Self {
        self.env.insert(key, value);
        self
    }

    /// Copies `data` to `path` in the container (one file per path; a second call replaces it).
    pub fn with_file(mut self, path: &str, data: Vec<u8>) -> Self {
        self.copies.retain(|(p, _)| p != path);
        let copy = CopyToContainer::new(CopyDataSource::Data(data), path);
        self.copies.push((path.to_owned(), copy));
        self
    }

    /// Whether a file is copied in.
    pub fn has_files(&self) -> bool {
        !self.copies.is_empty()
    }

    /// Publishes the container's ports on 127.0.0.1 only, each on a free port (recommended; the
    /// plain image publishes on every interface). Podman before 4.4 reports ports published the
    /// plain way with an empty host address, which testcontainers ignores: there, this is needed.
    pub fn on_loopback<I>(image: I) -> ContainerRequest<I>
    where
        I: Image + AsMut<FakeImage>,
    {
        let mut image = image;
        let fake = image.as_mut();
        fake.loopback = true;
        let ports = fake.ports;
        image.with_host_config_modifier(move |host| {
            host.publish_all_ports = Some(false);
            let loopback = || {
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(String::new()),
                }])
            };
            host.port_bindings = Some(
                ports
                    .iter()
                    .map(|port| (port.to_string(), loopback()))
                    .collect(),
            );
        })
    }

    /// 127.0.0.1 for [`FakeImage::on_loopback`] containers (testcontainers reports a bridge
    /// gateway when it runs inside a container itself), else the engine's host.
    pub async fn host_of<I>(container: &ContainerAsync<I>) -> Result<String, TestcontainersError>
    where
        I: Image + AsRef<FakeImage>,
    {
        if container.image().as_ref().loopback {
            return Ok("127.0.0.1".to_owned());
        }
        Ok(container.get_host().await?.to_string())
    }

    /// For `Image::name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// For `Image::tag`.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// For `Image::ready_conditions`.
    pub fn ready_conditions(&self) -> Vec<WaitFor> {
        vec![WaitFor::message_on_stdout(self.ready_line)]
    }

    /// For `Image::env_vars`.
    pub fn env_vars(&self) -> impl IntoIterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
        self.env
            .iter()
            .map(|(k, v)| (Cow::Borrowed(*k), Cow::Borrowed(v.as_str())))
    }

    /// For `Image::expose_ports`.
    pub fn expose_ports(&self) -> &[ContainerPort] {
        &self.ports
    }

    /// For `Image::copy_to_sources`.
    pub fn copy_to_sources(&self) -> impl IntoIterator<Item = &CopyToContainer> {
        self.copies.iter().map(|(_, copy)| copy)
    }
}

impl fmt::Debug for FakeImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env: BTreeMap<_, _> = self
            .env
            .iter()
            .map(|(k, v)| {
                let shown = if k.contains("SECRET") {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (*k, shown)
            })
            .collect();
        f.debug_struct("FakeImage")
            .field("name", &self.name)
            .field("tag", &self.tag)
            .field("env", &env)
            .field("files", &self.copies.len())
            .finish()
    }
}

/// Declares a fake's image type (`$ty`, doc `$doc`): a struct holding a [`FakeImage`] of image
/// `$name` with the two listener ports `$ports` and ready line `$ready` as its `Default`; it
/// implements `testcontainers::Image` (and `AsRef`/`AsMut<FakeImage>`) and has the methods every
/// fake's image has: `with_image`, `on_loopback` and the private `set`.
#[macro_export]
macro_rules! fake_image {
    ($(#[doc = $doc:expr])* $ty:ident, $name:expr, $ports:expr, $ready:expr) => {
        $(#[doc = $doc])*
        #[derive(Clone, Debug)]
        pub struct $ty {
            image: $crate::container::FakeImage,
        }

        impl Default for $ty {
            fn default() -> Self {
                Self {
                    image: $crate::container::FakeImage::new($name, $ports, $ready),
                }
            }
        }

        impl $ty {
            /// Uses another image, e.g. a `:src-<hash>` tag or a build pushed elsewhere.
            pub fn with_image(self, name: impl Into<String>, tag: impl Into<String>) -> Self {
                Self {
                    image: self.image.with_image(name, tag),
                }
            }

            /// Publishes the container's ports on 127.0.0.1 only, each on a free port
            /// (recommended; the plain image publishes on every interface). Podman before 4.4
            /// reports ports published the plain way with an empty host address, which
            /// testcontainers ignores: there, this is needed.
            pub fn on_loopback(self) -> ::testcontainers::ContainerRequest<Self> {
                $crate::container::FakeImage::on_loopback(self)
            }

            fn set(self, key: &'static str, value: String) -> Self {
                Self {
                    image: self.image.set(key, value),
                }
            }
        }

        impl ::core::convert::AsRef<$crate::container::FakeImage> for $ty {
            fn as_ref(&self) -> &$crate::container::FakeImage {
                &self.image
            }
        }
        impl ::core::convert::AsMut<$crate::container::FakeImage> for $ty {
            fn as_mut(&mut self) -> &mut $crate::container::FakeImage {
                &mut self.image
            }
        }
        impl ::testcontainers::Image for $ty {
            fn name(&self) -> &str {
                self.image.name()
            }
            fn tag(&self) -> &str {
                self.image.tag()
            }
            fn ready_conditions(&self) -> Vec<::testcontainers::core::WaitFor> {
                self.image.ready_conditions()
            }
            fn env_vars(
                &self,
            ) -> impl IntoIterator<
                Item = (
                    impl Into<::std::borrow::Cow<'_, str>>,
                    impl Into<::std::borrow::Cow<'_, str>>,
                ),
            > {
                self.image.env_vars()
            }
            fn expose_ports(&self) -> &[::testcontainers::core::ContainerPort] {
                self.image.expose_ports()
            }
            fn copy_to_sources(
                &self,
            ) -> impl IntoIterator<Item = &::testcontainers::core::CopyToContainer> {
                self.image.copy_to_sources()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_become_the_environment_and_debug_hides_secrets() {
        let image = FakeImage::new(
            "localhost/x/fake",
            [ContainerPort::Tcp(1), ContainerPort::Tcp(2)],
            "ready",
        )
        .set("FAKE_REGION", "cn-beijing".into())
        .set("FAKE_ACCOUNT_SECRET", "s3cr3t-value".into())
        .with_file("/etc/c.yaml", b"a: 1".to_vec())
        .with_file("/etc/c.yaml", b"a: 2".to_vec());
        let env: BTreeMap<String, String> = image
            .env_vars()
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(env["FAKE_REGION"], "cn-beijing");
        assert_eq!((image.name(), image.tag()), ("localhost/x/fake", IMAGE_TAG));
        assert_eq!(image.copy_to_sources().into_iter().count(), 1);
        let debug = format!("{image:?}");
        assert!(
            !debug.contains("s3cr3t-value") && debug.contains("<redacted>"),
            "{debug}"
        );
    }
}
