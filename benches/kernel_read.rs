//! The kernel counter source against the `iptables -L` child, on a real ruleset in a
//! network namespace (run by benches/kernel-read.sh, which loads the ruleset and makes
//! the traffic):
//!
//!   kernel_read --netns NAME --backend nft|legacy --table nat --reads 10 [--every-ms 1000]
//!
//! Per read, median CPU of the calling thread (CLOCK_THREAD_CPUTIME_ID) or of the child
//! (RUSAGE_CHILDREN): `iptables -t TABLE -L -v -n -x --line-numbers`, the kernel source's
//! full read (every chain), its selective read (base chains and the chains a moving jump
//! led into, this read or the last) and the nft generation id alone.

mod common;
use common::median;
use std::time::{Duration, Instant};

use iptop::model::Backend;
use iptop::source::kernel::Reader;
use iptop::source::live::{BackendChoice, LiveConfig, LiveSource};
use iptop::source::netns::open_netns;
use nix::sys::resource::{UsageWho, getrusage};

fn cpu(who: UsageWho) -> Duration {
    let u = getrusage(who).expect("getrusage");
    let t =
        |tv: nix::sys::time::TimeVal| Duration::new(tv.tv_sec() as u64, tv.tv_usec() as u32 * 1000);
    t(u.user_time()) + t(u.system_time())
}

/// CPU time of the calling thread, to the nanosecond.
fn thread_cpu() -> Duration {
    let mut ts = nix::libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { nix::libc::clock_gettime(nix::libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn main() {
    let Some(args) = common::Args::from_env("kernel_read", "benches/kernel-read.sh") else {
        return;
    };
    let arg = |name: &str, default: &str| args.get(name, default);
    let netns = arg("--netns", "");
    let (choice, backend) = match arg("--backend", "nft").as_str() {
        "legacy" => (BackendChoice::Legacy, Backend::Legacy),
        _ => (BackendChoice::Nft, Backend::Nft),
    };
    let table = arg("--table", "nat");
    let reads: usize = arg("--reads", "10").parse().expect("--reads N");
    let every = Duration::from_millis(arg("--every-ms", "0").parse().expect("--every-ms MS"));
    let label = arg("--label", "");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let mut live = LiveSource::new(LiveConfig {
        backend: choice,
        ipv6: false,
        netns: Some(netns.clone()),
        tables: vec![table.clone()],
        timeout: Duration::from_secs(30),
        binary: None,
    })
    .expect("source");
    let fd = open_netns(&netns).expect("netns");
    let mut reader = Reader::open(Some(&fd), false);
    reader.full_every = u32::MAX;

    let mut child = Vec::new();
    for _ in 0..reads.min(5) {
        let c0 = cpu(UsageWho::RUSAGE_CHILDREN);
        let raw = rt.block_on(live.poll());
        assert!(raw.listings.iter().all(|l| l.status == Some(0)));
        child.push(cpu(UsageWho::RUSAGE_CHILDREN) - c0);
    }
    let timed = |reader: &mut Reader, full: bool| {
        let t0 = thread_cpu();
        let r = reader.read(&table, backend, full);
        let d = thread_cpu() - t0;
        assert!(r.is_ok(), "the read failed");
        d
    };
    let mut full = Vec::new();
    for _ in 0..reads {
        full.push(timed(&mut reader, true));
    }
    let mut selective = Vec::new();
    let mut rules = 0;
    for _ in 0..reads {
        let started = Instant::now();
        std::thread::sleep(every.saturating_sub(started.elapsed()));
        selective.push(timed(&mut reader, false));
    }
    if let Ok(r) = reader.read(&table, backend, false) {
        rules = r.counters.chains.iter().map(|c| c.rules.len()).sum();
    }
    let mut generation = Vec::new();
    if backend == Backend::Nft {
        for _ in 0..reads {
            let t0 = thread_cpu();
            reader.generation().expect("generation");
            generation.push(thread_cpu() - t0);
        }
    }
    let c = median(&mut child);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let ratio = |d: Duration| d.as_secs_f64() / c.as_secs_f64();
    let (f, s) = (median(&mut full), median(&mut selective));
    print!(
        "{netns} {backend} -t {table}{label}: {rules} rules; iptables -L {:.1} ms; full read {:.2} ms ({:.3}x); selective {:.2} ms ({:.3}x)",
        ms(c),
        ms(f),
        ratio(f),
        ms(s),
        ratio(s)
    );
    if !generation.is_empty() {
        let g = median(&mut generation);
        print!("; generation {:.3} ms ({:.5}x)", ms(g), ratio(g));
    }
    println!();
}
