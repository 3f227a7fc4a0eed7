//! Client tests against a minimal in-process xenstored (the real one only runs on the rig).

use super::*;
use std::collections::BTreeMap;
use std::os::unix::net::UnixStream;

/// A toy daemon: a flat map of nodes, one watch, and the first commit answered `EAGAIN`.
fn fake_xenstored(mut s: UnixStream) {
    let mut nodes: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut watches: Vec<(String, String)> = Vec::new();
    let mut commits = 0;
    while let Ok(m) = wire::read_message(&mut s) {
        let args = wire::strings(&m.payload);
        let op = XsdSockmsgType::try_from(m.kind).expect("test client sends known types");
        let mut events = Vec::new();
        let reply: Result<Vec<u8>, &str> = match op {
            XsdSockmsgType::Read => nodes.get(&args[0]).cloned().ok_or("ENOENT"),
            XsdSockmsgType::Write => {
                let at = m.payload.iter().position(|b| *b == 0).unwrap();
                let p = args[0].clone();
                nodes.insert(p.clone(), m.payload[at + 1..].to_vec());
                events.extend(
                    watches
                        .iter()
                        .filter(|(w, _)| p.starts_with(w.as_str()))
                        .cloned()
                        .map(|(_, t)| (p.clone(), t)),
                );
                Ok(b"OK\0".to_vec())
            }
            XsdSockmsgType::Directory => {
                let prefix = format!("{}/", args[0]);
                let mut out = Vec::new();
                for k in nodes.keys().filter_map(|k| k.strip_prefix(&prefix)) {
                    out.extend_from_slice(k.split('/').next().unwrap().as_bytes());
                    out.push(0);
                }
                Ok(out)
            }
            XsdSockmsgType::Watch => {
                watches.push((args[0].clone(), args[1].clone()));
                events.push((args[0].clone(), args[1].clone()));
                Ok(b"OK\0".to_vec())
            }
            XsdSockmsgType::TransactionStart => Ok(b"7\0".to_vec()),
            XsdSockmsgType::TransactionEnd => {
                commits += 1;
                if commits == 1 {
                    Err("EAGAIN")
                } else {
                    Ok(b"OK\0".to_vec())
                }
            }
            XsdSockmsgType::GetPerms => Ok(b"n0\0r5\0".to_vec()),
            _ => Err("ENOSYS"),
        };
        let (kind, payload) = match reply {
            Ok(p) => (op, p),
            Err(e) => (XsdSockmsgType::Error, wire::path(e)),
        };
        s.write_all(&wire::encode(kind, m.req_id, m.tx_id, &payload).unwrap())
            .unwrap();
        for (p, t) in events {
            let mut pl = wire::path(&p);
            pl.extend_from_slice(&wire::path(&t));
            s.write_all(&wire::encode(XsdSockmsgType::WatchEvent, 0, 0, &pl).unwrap())
                .unwrap();
        }
    }
}

fn client() -> Xenstore {
    let (a, b) = UnixStream::pair().unwrap();
    std::thread::spawn(move || fake_xenstored(b));
    let r = a.try_clone().unwrap();
    Xenstore::over(Box::new(r), Box::new(a))
}

#[test]
fn read_missing_is_enoent() {
    let xs = client();
    let e = xs.read(NO_TX, "/a").unwrap_err();
    assert_eq!(e.errno(), Some(Errno::ENOENT));
}

#[test]
fn write_then_read_and_directory() {
    let xs = client();
    xs.write(NO_TX, "/d/x", b"1").unwrap();
    xs.write(NO_TX, "/d/y/z", b"2").unwrap();
    assert_eq!(xs.read_string(NO_TX, "/d/x").unwrap(), "1");
    assert_eq!(xs.read_parse::<u32>(NO_TX, "/d/y/z"), Some(2));
    assert_eq!(xs.directory(NO_TX, "/d").unwrap(), vec!["x", "y"]);
}

#[test]
fn watch_streams_initial_and_change_events() {
    let xs = client();
    let rx = xs.watch("/w", "tok").unwrap();
    let first = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(
        first,
        WatchEvent {
            path: "/w".into(),
            token: "tok".into()
        }
    );
    xs.write(NO_TX, "/w/k", b"v").unwrap();
    let ev = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(ev.path, "/w/k");
}

#[test]
fn transaction_retries_on_eagain() {
    let xs = client();
    let mut runs = 0;
    xs.transaction(|tx| {
        runs += 1;
        assert_eq!(tx, Tx(7));
        Ok(())
    })
    .unwrap();
    assert_eq!(runs, 2);
}

#[test]
fn unknown_op_error_is_mapped_and_perms_parse() {
    let xs = client();
    assert_eq!(
        xs.mkdir(NO_TX, "/m").unwrap_err().errno(),
        Some(Errno::ENOSYS)
    );
    let p = xs.get_perms(NO_TX, "/x").unwrap();
    assert_eq!(
        p,
        vec![
            Perm {
                access: wire::Access::None,
                domid: 0
            },
            Perm {
                access: wire::Access::Read,
                domid: 5
            }
        ]
    );
}

#[test]
fn strings_handles_trailing_nul_and_empty() {
    assert_eq!(wire::strings(b"a\0b\0"), vec!["a", "b"]);
    assert!(wire::strings(b"").is_empty());
    assert_eq!(wire::first_string(b"EINVAL\0"), "EINVAL");
}

#[test]
fn oversized_header_is_rejected() {
    let mut m = wire::encode(XsdSockmsgType::Read, 1, 0, b"").unwrap();
    m[12..16].copy_from_slice(&5000u32.to_le_bytes());
    assert!(wire::read_message(&mut &m[..]).is_err());
}

#[test]
fn write_nodes_pipelines_and_reports_the_first_error() {
    let xs = client();
    let perms = [Perm {
        access: wire::Access::None,
        domid: 0,
    }];
    let ok = [
        Node {
            path: "/a",
            value: b"1",
            perms: None,
        },
        Node {
            path: "/b",
            value: b"2",
            perms: None,
        },
    ];
    xs.write_nodes(NO_TX, &ok).unwrap();
    assert_eq!(xs.read_string(NO_TX, "/a").unwrap(), "1");
    assert_eq!(xs.read_string(NO_TX, "/b").unwrap(), "2");
    // The toy daemon has no SET_PERMS: ENOSYS, after which the next write still lands and
    // the connection stays in step.
    let mixed = [
        Node {
            path: "/c",
            value: b"3",
            perms: Some(&perms),
        },
        Node {
            path: "/d",
            value: b"4",
            perms: None,
        },
    ];
    let e = xs.write_nodes(NO_TX, &mixed).unwrap_err();
    assert_eq!(e.errno(), Some(Errno::ENOSYS));
    assert_eq!(xs.read_string(NO_TX, "/d").unwrap(), "4");
}
