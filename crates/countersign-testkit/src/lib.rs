//! Support for countersign's own tests. Not part of the product.
//!
//! [`postgres`] finds a PostgreSQL to test against, in this order: `COUNTERSIGN_TEST_POSTGRES`
//! (e.g. `postgres://postgres@db.internal:5432`, with an administrative database `test`), the
//! machine's cluster on 127.0.0.1:5432, or a throwaway cluster that it creates from the installed
//! server binaries (`/usr/lib/postgresql/*/bin`) in the temporary folder and starts on port
//! 55432. When none can be had, tests fail with a message saying how to provide one: they are
//! never skipped.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where the tests' PostgreSQL is.
#[derive(Clone, Debug)]
pub struct Postgres {
    /// `postgres://user@host:port`, without a database.
    base: String,
    /// A database that exists, to create and drop the tests' own from.
    admin_database: String,
}

impl Postgres {
    /// The URL of a database on this server.
    pub fn url(&self, database: &str) -> String {
        format!("{}/{database}", self.base)
    }

    /// The URL of the administrative database.
    pub fn admin_url(&self) -> String {
        self.url(&self.admin_database)
    }
}

const MACHINE: &str = "127.0.0.1:5432";
const THROWAWAY_PORT: u16 = 55432;

/// The tests' PostgreSQL, found or started once per test process.
pub fn postgres() -> &'static Postgres {
    static FOUND: OnceLock<Postgres> = OnceLock::new();
    FOUND.get_or_init(|| match provision() {
        Ok(postgres) => postgres,
        Err(reason) => panic!(
            "these tests need PostgreSQL and none could be had: {reason}.\n\
             Provide one of: the machine's cluster on 127.0.0.1:5432 with trust authentication \
             (Debian: `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`; \
             `bash .ci/run` does this), the server binaries (`apt-get install postgresql`) for a \
             throwaway cluster, or COUNTERSIGN_TEST_POSTGRES=postgres://USER@HOST:PORT with a database `test`"
        ),
    })
}

fn reachable(address: &str) -> bool {
    address
        .parse::<SocketAddr>()
        .is_ok_and(|address| TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok())
}

fn provision() -> Result<Postgres, String> {
    if let Ok(base) = std::env::var("COUNTERSIGN_TEST_POSTGRES") {
        return Ok(Postgres { base: base.trim_end_matches('/').to_owned(), admin_database: "test".to_owned() });
    }
    if reachable(MACHINE) {
        return Ok(Postgres { base: format!("postgres://postgres@{MACHINE}"), admin_database: "test".to_owned() });
    }
    throwaway()
}

/// A cluster of our own in the temporary folder, shared by every test process until reboot.
fn throwaway() -> Result<Postgres, String> {
    let address = format!("127.0.0.1:{THROWAWAY_PORT}");
    let postgres = Postgres { base: format!("postgres://postgres@{address}"), admin_database: "postgres".to_owned() };
    let root = std::env::temp_dir().join("countersign-test-postgres");
    std::fs::create_dir_all(&root).map_err(|error| format!("cannot create {}: {error}", root.display()))?;
    // Test binaries may start at once; one of them creates the cluster.
    let lock = std::fs::File::create(root.join("lock")).map_err(|error| format!("cannot lock: {error}"))?;
    lock.lock().map_err(|error| format!("cannot lock: {error}"))?;
    if reachable(&address) {
        return Ok(postgres);
    }
    let bin = server_binaries().ok_or("no PostgreSQL server binaries under /usr/lib/postgresql")?;
    let data = root.join("data");
    let as_root = Command::new("id").arg("-u").output().is_ok_and(|output| output.stdout.trim_ascii() == b"0");
    if !data.join("PG_VERSION").exists() {
        std::fs::create_dir_all(&data).map_err(|error| format!("cannot create {}: {error}", data.display()))?;
        if as_root {
            // initdb refuses to run as root; the cluster belongs to the postgres user.
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(&root), "chown")?;
        }
        let mut initdb = owned_by_postgres(as_root, &bin.join("initdb"));
        initdb.arg("-D").arg(&data).args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"]);
        run(&mut initdb, "initdb")?;
    }
    let options = format!("-p {THROWAWAY_PORT} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", root.display());
    let mut start = owned_by_postgres(as_root, &bin.join("pg_ctl"));
    start.arg("-D").arg(&data).args(["-o", &options, "-l"]).arg(root.join("log")).args(["-w", "start"]);
    run(&mut start, "pg_ctl start")?;
    let started = Instant::now();
    while !reachable(&address) {
        if started.elapsed() > Duration::from_secs(30) {
            return Err(format!("the throwaway cluster in {} did not start; see its log", root.display()));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("countersign-testkit: started a throwaway PostgreSQL in {} on {address}", root.display());
    Ok(postgres)
}

/// The newest installed server's `bin` folder.
fn server_binaries() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    versions.sort_by_key(|bin| {
        bin.parent().and_then(|version| version.file_name()?.to_str()?.parse::<u32>().ok()).unwrap_or(0)
    });
    versions.pop()
}

fn owned_by_postgres(as_root: bool, program: &Path) -> Command {
    if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command.output().map_err(|error| format!("cannot run {what}: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed: {}", String::from_utf8_lossy(&output.stderr).trim()))
    }
}
