//! A hung request blocks only its caller: the filesystem keeps answering
//! everything else, and `heal`, `clear` or drop release the caller with a
//! normal answer.

#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::thread;
use std::time::Duration;

use faultfs::{Op, TempMount};

/// Runs `call` on a thread; its result arrives on the returned channel.
fn in_thread<T: Send + 'static>(
    call: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Receiver<std::io::Result<T>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(call());
    });
    rx
}

fn read_in_thread(path: PathBuf) -> Receiver<std::io::Result<Vec<u8>>> {
    in_thread(move || fs::read(path))
}

/// Generous: the machine is shared; a request arrives, and a released
/// caller returns, in microseconds.
const RELEASED: Duration = Duration::from_secs(10);

#[test]
fn a_hung_read_blocks_until_heal_while_stat_and_listing_answer() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("app.yaml"), "a: 1\n").unwrap();
    m.hang(Op::Read);
    let reader = read_in_thread(m.path("app.yaml"));
    assert!(
        m.wait_for_held(Op::Read, 1, RELEASED),
        "the read was not held"
    );

    // The process keeps serving while the read hangs.
    assert_eq!(fs::metadata(m.path("app.yaml")).unwrap().len(), 5);
    assert_eq!(fs::read_dir(m.mountpoint()).unwrap().count(), 1);
    fs::write(m.path("other"), "x").unwrap();
    assert_eq!(
        reader.try_recv().unwrap_err(),
        TryRecvError::Empty,
        "the reader was not blocked"
    );

    m.heal();
    assert_eq!(reader.recv_timeout(RELEASED).unwrap().unwrap(), b"a: 1\n");
    let read = m.counts().of(Op::Read);
    assert_eq!((read.hung, read.held), (1, 0));
}

#[test]
fn a_released_read_sees_the_content_at_release_time() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("app.yaml"), "old\n").unwrap();
    m.hang(Op::Read);
    let reader = read_in_thread(m.path("app.yaml"));
    assert!(
        m.wait_for_held(Op::Read, 1, RELEASED),
        "the read was not held"
    );
    fs::write(m.backing.path().join("app.yaml"), "new\n").unwrap();
    m.heal();
    assert_eq!(reader.recv_timeout(RELEASED).unwrap().unwrap(), b"new\n");
}

#[test]
fn a_hung_open_blocks_while_stat_answers() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("app.yaml"), "x").unwrap();
    m.hang(Op::Open);
    let reader = read_in_thread(m.path("app.yaml"));
    assert!(
        m.wait_for_held(Op::Open, 1, RELEASED),
        "the open was not held"
    );
    assert!(fs::metadata(m.path("app.yaml")).is_ok());
    assert_eq!(
        reader.try_recv().unwrap_err(),
        TryRecvError::Empty,
        "the reader was not blocked"
    );
    m.heal();
    assert_eq!(reader.recv_timeout(RELEASED).unwrap().unwrap(), b"x");
}

#[test]
fn clear_releases_only_that_ops_held_requests() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("app.yaml"), "x").unwrap();
    std::os::unix::fs::symlink("app.yaml", m.path("link")).unwrap();
    m.hang(Op::Read);
    m.hang(Op::Readlink);
    let reader = read_in_thread(m.path("app.yaml"));
    let link = m.path("link");
    let link_reader = in_thread(move || fs::read_link(link));
    assert!(
        m.wait_for_held(Op::Read, 1, RELEASED),
        "the read was not held"
    );
    assert!(
        m.wait_for_held(Op::Readlink, 1, RELEASED),
        "the readlink was not held"
    );

    m.clear(Op::Read);
    assert_eq!(reader.recv_timeout(RELEASED).unwrap().unwrap(), b"x");
    assert_eq!(m.counts().of(Op::Readlink).held, 1);
    assert_eq!(link_reader.try_recv().unwrap_err(), TryRecvError::Empty);

    m.heal();
    let target = link_reader.recv_timeout(RELEASED).unwrap().unwrap();
    assert_eq!(target, PathBuf::from("app.yaml"));
}

#[test]
fn a_named_hang_holds_only_that_file() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("slow.yaml"), "s").unwrap();
    fs::write(m.path("fast.yaml"), "f").unwrap();
    m.hang_named(Op::Read, "slow.yaml");
    let slow = read_in_thread(m.path("slow.yaml"));
    assert!(
        m.wait_for_held(Op::Read, 1, RELEASED),
        "the read was not held"
    );
    assert_eq!(fs::read(m.path("fast.yaml")).unwrap(), b"f");
    assert_eq!(
        slow.try_recv().unwrap_err(),
        TryRecvError::Empty,
        "the reader was not blocked"
    );
    m.heal();
    assert_eq!(slow.recv_timeout(RELEASED).unwrap().unwrap(), b"s");
}

#[test]
fn dropping_the_filesystem_releases_a_hung_reader_and_unmounts() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("app.yaml"), "x").unwrap();
    m.hang(Op::Read);
    let reader = read_in_thread(m.path("app.yaml"));
    assert!(
        m.wait_for_held(Op::Read, 1, RELEASED),
        "the read was not held"
    );
    let mountpoint = m.mountpoint().to_owned();
    drop(m.fs); // the temp dirs are still alive: only the filesystem goes
    assert_eq!(reader.recv_timeout(RELEASED).unwrap().unwrap(), b"x");
    assert!(!common::is_mounted(&mountpoint));
}

#[test]
fn wait_for_held_gives_up_after_its_timeout() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    m.hang(Op::Read);
    assert!(!m.wait_for_held(Op::Read, 1, Duration::from_millis(1)));
}

#[test]
fn a_process_blocked_in_a_hung_read_outlives_sigkill_until_heal() {
    let Some(m) = TempMount::for_test() else {
        return;
    };
    fs::write(m.path("app.yaml"), "x").unwrap();
    m.hang(Op::Read);
    let mut cat = std::process::Command::new("cat")
        .arg(m.path("app.yaml"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        m.wait_for_held(Op::Read, 1, RELEASED),
        "the read was not held"
    );
    cat.kill().unwrap();
    // The kernel waits for the answer to a request the server has read,
    // fatal signal or not; a killed reader shows as still running.
    thread::sleep(Duration::from_millis(200));
    assert!(
        cat.try_wait().unwrap().is_none(),
        "the reader died while its read was held"
    );
    m.heal();
    let status = cat.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
}
