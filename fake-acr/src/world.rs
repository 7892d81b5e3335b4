//! The served world: the settings plus what derives from them (token keys, demo images,
//! advertised URLs). Immutable; a settings replacement builds a new one and swaps it in whole,
//! so a request sees one world from start to end.

use std::collections::HashMap;

use crate::images::Image;
use crate::settings::Settings;
use crate::tokens::TokenKeys;

/// Everything a request needs that follows from the settings.
pub(crate) struct World {
    pub settings: Settings,
    pub keys: TokenKeys,
    /// (registry target key, repository) → image.
    pub images: HashMap<(String, String), Image>,
    /// `https` or `http`.
    pub scheme: &'static str,
    /// `:port` suffix for URLs we advertise (empty for the scheme's default port).
    pub port_suffix: String,
    /// Bumped by every replacement; requests of an older world are not logged.
    pub generation: u64,
}

impl World {
    /// The world of `settings` served on a listener bound to `port`.
    pub fn new(settings: Settings, port: u16, generation: u64) -> Self {
        let mut images = HashMap::new();
        for r in &settings.regions {
            for repo in &r.personal_repositories {
                images.insert(
                    (format!("personal:{}", r.id), repo.name.clone()),
                    Image::demo(&repo.name),
                );
            }
        }
        for i in &settings.instances {
            for repo in &i.repositories {
                images.insert(
                    (format!("instance:{}", i.id), repo.name.clone()),
                    Image::demo(&format!("{}/{}", i.id, repo.name)),
                );
            }
        }
        let scheme = if settings.plain_http { "http" } else { "https" };
        let port = settings.advertised_port.unwrap_or(port);
        let default_port = if settings.plain_http { 80 } else { 443 };
        let port_suffix = if port == default_port {
            String::new()
        } else {
            format!(":{port}")
        };
        Self {
            keys: TokenKeys::new(&settings.account_secret),
            settings,
            images,
            scheme,
            port_suffix,
            generation,
        }
    }
}
