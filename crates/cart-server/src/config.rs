//! Configuration of the `cart-server` binary: flags, each also read from an environment
//! variable (the flag wins).

use std::path::PathBuf;
use std::time::Duration;

use std::ffi::OsStr;

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use clap::{Parser, ValueEnum};

use crate::claim::token::ClaimSecret;
use crate::limits::Limits;
use crate::origins::AllowedOrigins;
use crate::secret::AdminToken;
use crate::webhook::{RetryPolicy, Webhook, WebhookSecret, WebhookUrl};

/// `cart-server`: syncs offline-cart carts over automerge-repo's WebSocket protocol and serves
/// the storefront.
#[derive(Debug, Clone, Parser)]
#[command(name = "cart-server", version, about)]
pub struct Config {
    /// Address to listen on. 127.0.0.1 keeps the server local; use 0.0.0.0 to accept other
    /// machines.
    #[arg(long, env = "CART_SERVER_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on; 0 picks a free one (the log says which).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// Where carts are stored: sqlite://PATH (relative or absolute; the directory is created), or
    /// postgres://USER:PASSWORD@HOST:PORT/DATABASE for several instances sharing one database.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://./data/carts.sqlite3"
    )]
    pub database_url: String,
    /// Directory served at / (the built storefront).
    #[arg(long, env = "CART_SERVER_STATIC_DIR", default_value = "dist")]
    pub static_dir: PathBuf,
    /// Largest frame applied, in bytes; larger ones get an error (4x this closes the socket).
    #[arg(long, env = "CART_SERVER_MAX_FRAME_BYTES", default_value_t = 1024 * 1024)]
    pub max_frame_bytes: usize,
    /// Largest saved cart, in bytes.
    #[arg(long, env = "CART_SERVER_MAX_DOCUMENT_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub max_document_bytes: usize,
    /// Most lines (distinct skus) per cart.
    #[arg(long, env = "CART_SERVER_MAX_LINES", default_value_t = 500)]
    pub max_lines: usize,
    /// Messages per second one connection may send on average.
    #[arg(long, env = "CART_SERVER_MESSAGES_PER_SECOND", default_value_t = 50.0)]
    pub messages_per_second: f64,
    /// Messages one connection may send in a burst.
    #[arg(long, env = "CART_SERVER_MESSAGE_BURST", default_value_t = 200.0)]
    pub message_burst: f64,
    /// Bytes of frames per second one connection may send on average.
    #[arg(long, env = "CART_SERVER_BYTES_PER_SECOND", default_value_t = 1024.0 * 1024.0)]
    pub bytes_per_second: f64,
    /// Bytes one connection may send in a burst.
    #[arg(long, env = "CART_SERVER_BYTE_BURST", default_value_t = 8.0 * 1024.0 * 1024.0)]
    pub byte_burst: f64,
    /// Bytes queued for one connection before it counts as not reading (and is closed, 1008).
    #[arg(long, env = "CART_SERVER_OUTBOX_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub outbox_bytes: usize,
    /// Seconds between the server's WebSocket pings.
    #[arg(long, env = "CART_SERVER_HEARTBEAT_SECS", default_value_t = 15)]
    pub heartbeat_secs: u64,
    /// Seconds without any frame from a peer (pongs included) before it is closed (1001).
    #[arg(long, env = "CART_SERVER_IDLE_TIMEOUT_SECS", default_value_t = 45)]
    pub idle_timeout_secs: u64,
    /// Seconds a new connection has to send `join` (then it is closed, 1008).
    #[arg(long, env = "CART_SERVER_JOIN_TIMEOUT_SECS", default_value_t = 10)]
    pub join_timeout_secs: u64,
    /// Open /sync connections allowed from one client IP address.
    #[arg(
        long,
        env = "CART_SERVER_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 64
    )]
    pub max_connections_per_address: usize,
    /// Carts one connection may sync.
    #[arg(
        long,
        env = "CART_SERVER_MAX_CARTS_PER_CONNECTION",
        default_value_t = 16
    )]
    pub max_carts_per_connection: usize,
    /// Seconds to wait for connections to finish on shutdown.
    #[arg(long, env = "CART_SERVER_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,
    /// How log lines are written: `text` for people, `json` (one object per line) for log
    /// pipelines. Any other value stops the server at start-up, naming these two.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Storefront origins on other hosts that may use the API and `/sync`, comma-separated
    /// (see [`crate::origins`]); empty: the API sends no CORS headers and `/sync` takes every
    /// origin. An entry that is not an origin stops the server at start-up, naming it.
    #[arg(long, env = "CART_SERVER_ALLOWED_ORIGINS", default_value = "", value_parser = AllowedOrigins::parse)]
    pub allowed_origins: AllowedOrigins,
    /// Runs the demo shop: seeds the demo catalog and answers the name-only `POST /api/signin`,
    /// which authenticates nobody. `npm start` and the end-to-end tests run it; a real shop
    /// does not.
    #[arg(long, env = "CART_SERVER_DEMO")]
    pub demo: bool,
    /// The bearer token of the admin API (`PUT /api/catalog`); unset, the admin API is off. A
    /// token shorter than 32 characters stops the server at start-up.
    #[arg(long, env = "CART_SERVER_ADMIN_TOKEN", value_parser = SecretParser(AdminToken::parse), hide_env_values = true)]
    pub admin_token: Option<AdminToken>,
    /// The secret the shop's backend signs sign-in tokens with (HS256 JWTs, see
    /// `POST /api/carts/claim`); unset, the claim is off. A secret shorter than 32 characters
    /// stops the server at start-up (the error does not repeat it).
    #[arg(long, env = "CART_SERVER_CLAIM_SECRET", value_parser = SecretParser(ClaimSecret::parse), hide_env_values = true)]
    pub claim_secret: Option<ClaimSecret>,
    /// Where every new order is POSTed, signed (see [`crate::webhook`]): an http:// or https://
    /// URL; unset, no order is sent. Needs `CART_SERVER_WEBHOOK_SECRET`.
    #[arg(long, env = "CART_SERVER_CHECKOUT_WEBHOOK", value_parser = WebhookUrl::parse)]
    pub checkout_webhook: Option<WebhookUrl>,
    /// The secret the webhook's requests are signed with (HMAC-SHA256), 32 to 512 characters,
    /// shared with the shop. Required with a webhook.
    #[arg(long, env = "CART_SERVER_WEBHOOK_SECRET", value_parser = SecretParser(WebhookSecret::parse), hide_env_values = true)]
    pub webhook_secret: Option<WebhookSecret>,
}

/// Parses a secret (the admin token, the claim secret, the webhook secret) with its `parse`,
/// erring with the flag's name and why, never with the value: clap's own errors quote the value,
/// and a secret refused for a trailing newline is still a secret.
#[derive(Clone)]
struct SecretParser<T>(fn(&str) -> Result<T, String>);

impl<T: Clone + Send + Sync + 'static> TypedValueParser for SecretParser<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let flag = match (
            arg.and_then(clap::Arg::get_long),
            arg.and_then(clap::Arg::get_env),
        ) {
            (Some(long), Some(env)) => format!("--{long} ({})", env.to_string_lossy()),
            (Some(long), None) => format!("--{long}"),
            _ => "a secret".to_string(),
        };
        let refused = |why: String| {
            clap::Error::raw(ErrorKind::ValueValidation, format!("{flag}: {why}\n")).with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| refused("the value is not UTF-8".to_string()))?;
        (self.0)(text).map_err(refused)
    }
}

/// The shape of log lines (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines, coloured when stdout is a terminal.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields` (the message and the
    /// event's fields, such as `cart`), and `span`/`spans` for the request being served.
    Json,
}

impl Config {
    /// The limits these flags set.
    pub fn limits(&self) -> Limits {
        Limits {
            max_frame_bytes: self.max_frame_bytes,
            max_document_bytes: self.max_document_bytes,
            max_lines: self.max_lines,
            messages_per_second: self.messages_per_second,
            message_burst: self.message_burst,
            bytes_per_second: self.bytes_per_second,
            byte_burst: self.byte_burst,
            outbox_bytes: self.outbox_bytes,
            heartbeat_interval: Duration::from_secs(self.heartbeat_secs.max(1)),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs.max(1)),
            join_timeout: Duration::from_secs(self.join_timeout_secs.max(1)),
            max_connections_per_address: self.max_connections_per_address,
            max_carts_per_connection: self.max_carts_per_connection,
        }
    }

    /// The checkout webhook these flags set, with the default retry policy; `None` without
    /// `CART_SERVER_CHECKOUT_WEBHOOK`.
    ///
    /// Errs, naming the variable to set, when the webhook has no secret or a short one (never
    /// showing it), or when TLS cannot be set up.
    pub fn webhook(&self) -> Result<Option<Webhook>, String> {
        let Some(url) = self.checkout_webhook.clone() else {
            return Ok(None);
        };
        let Some(secret) = self.webhook_secret.clone() else {
            return Err(
                "CART_SERVER_CHECKOUT_WEBHOOK is set but CART_SERVER_WEBHOOK_SECRET is not: \
                 set it to a random secret of 32 to 512 characters (`openssl rand -hex 32`) \
                 and give the shop the same, so it can check the signature"
                    .to_string(),
            );
        };
        Webhook::new(url, secret, RetryPolicy::default()).map(Some)
    }

    /// How long shutdown waits for connections.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

/// Where the server keeps its data, as `DATABASE_URL` names it.
#[derive(Debug, Clone)]
pub enum Database {
    /// One SQLite file (`sqlite://PATH` or `sqlite:PATH`): one instance, nothing to operate.
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://` or `postgresql://`), which several instances can
    /// share. Its `Debug` hides the password.
    Postgres(Box<tokio_postgres::Config>),
}

impl Database {
    /// The database `url` names.
    ///
    /// Errs, saying what is supported, for any other scheme, a SQLite URL without a file, or a
    /// PostgreSQL URL that does not parse.
    pub fn parse(url: &str) -> Result<Database, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return url
                .parse()
                .map(|c| Database::Postgres(Box::new(c)))
                .map_err(|e| {
                    format!(
                        "DATABASE_URL is not a valid PostgreSQL URL ({e}); \
                     use postgres://USER:PASSWORD@HOST:PORT/DATABASE"
                    )
                });
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| {
                format!(
                    "DATABASE_URL {:?} is not supported; use sqlite://PATH or postgres://...",
                    url.split(':').next().unwrap_or_default()
                )
            })?;
        if path.is_empty() || path.contains(":memory:") {
            return Err(format!(
                "DATABASE_URL {url:?} names no file; use sqlite://PATH such as sqlite://./data/carts.sqlite3"
            ));
        }
        Ok(Database::Sqlite(PathBuf::from(path)))
    }

    /// What the log says about the database: the SQLite file, or PostgreSQL's host, port,
    /// database and user (never the password).
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite(path) => path.display().to_string(),
            Database::Postgres(config) => crate::store::postgres::describe(config),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_path(url: &str) -> Result<PathBuf, String> {
        match Database::parse(url)? {
            Database::Sqlite(path) => Ok(path),
            Database::Postgres(_) => Err(format!("{url} parsed as PostgreSQL")),
        }
    }

    #[test]
    fn sqlite_urls_give_their_path() {
        assert_eq!(
            sqlite_path("sqlite://./data/carts.sqlite3").unwrap(),
            PathBuf::from("./data/carts.sqlite3")
        );
        assert_eq!(
            sqlite_path("sqlite:///var/lib/carts.db").unwrap(),
            PathBuf::from("/var/lib/carts.db")
        );
        assert_eq!(sqlite_path("sqlite:x.db").unwrap(), PathBuf::from("x.db"));
        assert!(sqlite_path("mysql://x").unwrap_err().contains("\"mysql\""));
        assert!(sqlite_path("sqlite://").is_err());
    }

    #[test]
    fn postgres_urls_select_postgres_and_never_show_the_password() {
        for url in [
            "postgres://shop:hunter2@db:6543/carts",
            "postgresql://shop:hunter2@db:6543/carts",
        ] {
            let database = Database::parse(url).expect("a PostgreSQL URL");
            assert!(matches!(database, Database::Postgres(_)), "{url}");
            assert_eq!(database.describe(), "db:6543/carts as shop");
            assert!(!format!("{database:?}").contains("hunter2"));
        }
        let bad = Database::parse("postgres://shop:hunter2@db:notaport/carts").unwrap_err();
        assert!(bad.contains("not a valid PostgreSQL URL"), "{bad}");
        assert!(!bad.contains("hunter2"), "{bad}");
    }

    #[test]
    fn defaults_match_the_documentation() {
        let config = Config::parse_from(["cart-server"]);
        assert_eq!(config.host, "127.0.0.1");
        assert_eq!(config.limits(), Limits::default());
        assert_eq!(config.static_dir, PathBuf::from("dist"));
        assert_eq!(config.log_format, LogFormat::Text);
        assert!(config.allowed_origins.is_empty());
        assert!(!config.demo, "a real shop unless asked");
        assert!(
            config.admin_token.is_none(),
            "no admin API unless a token is set"
        );
        assert!(
            config.claim_secret.is_none(),
            "no claim unless a secret is set"
        );
        assert!(
            config.webhook().expect("no webhook is fine").is_none(),
            "no webhook unless one is set"
        );
    }

    #[test]
    fn a_webhook_needs_a_long_secret_and_never_shows_it() {
        let secret = "0123456789abcdef0123456789abcdef";
        let url = "https://shop.example/hooks/orders";
        let config = Config::try_parse_from([
            "cart-server",
            "--checkout-webhook",
            url,
            "--webhook-secret",
            secret,
        ])
        .unwrap();
        let webhook = config.webhook().unwrap().expect("a webhook");
        assert_eq!(webhook.url().to_string(), "https://shop.example");
        assert!(!format!("{config:?}").contains(secret));
        assert!(!format!("{webhook:?}").contains(secret));

        let without = Config::try_parse_from(["cart-server", "--checkout-webhook", url]).unwrap();
        let refused = without.webhook().unwrap_err();
        assert!(refused.contains("CART_SERVER_WEBHOOK_SECRET"), "{refused}");

        let bad_url = Config::try_parse_from(["cart-server", "--checkout-webhook", "ftp://x/y"])
            .unwrap_err()
            .to_string();
        assert!(bad_url.contains("http:// or https://"), "{bad_url}");
    }

    #[test]
    fn allowed_origins_are_read_and_a_bad_one_stops_the_start() {
        let config = Config::try_parse_from([
            "cart-server",
            "--allowed-origins",
            "https://shop.example,https://www.shop.example",
        ])
        .unwrap();
        assert_eq!(
            config.allowed_origins,
            AllowedOrigins::parse("https://shop.example,https://www.shop.example").unwrap()
        );
        let refused = Config::try_parse_from(["cart-server", "--allowed-origins", "shop.example"])
            .unwrap_err();
        assert!(refused.to_string().contains("shop.example"), "{refused}");
    }

    #[test]
    fn a_secret_refused_at_start_names_its_flag_and_never_shows_the_value() {
        let secret = "a-secret-of-at-least-32-characters-0123";
        for flag in ["--admin-token", "--claim-secret", "--webhook-secret"] {
            let config = Config::try_parse_from(["cart-server", flag, secret]).unwrap();
            assert!(!format!("{config:?}").contains(secret), "{flag}");
            // Refused for a trailing newline: still the secret, so it must not be shown.
            let near_miss = format!("{secret}\n");
            for refused_value in [near_miss.as_str(), "too-short-secret"] {
                let refused = Config::try_parse_from(["cart-server", flag, refused_value])
                    .unwrap_err()
                    .to_string();
                assert!(refused.contains(flag), "{refused}");
                assert!(refused.contains("32"), "says how long: {refused}");
                assert!(
                    !refused.contains(secret) && !refused.contains("too-short-secret"),
                    "{refused}"
                );
            }
        }
        let config = Config::try_parse_from(["cart-server", "--claim-secret", secret]).unwrap();
        assert!(config.claim_secret.is_some());
    }

    #[test]
    fn an_unknown_log_format_is_refused_naming_the_accepted_ones() {
        let config = Config::try_parse_from(["cart-server", "--log-format", "json"]).unwrap();
        assert_eq!(config.log_format, LogFormat::Json);
        let refused = Config::try_parse_from(["cart-server", "--log-format", "yaml"])
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("yaml") && refused.contains("text") && refused.contains("json"),
            "{refused}"
        );
    }
}
