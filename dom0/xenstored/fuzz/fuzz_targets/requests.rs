//! Fuzz target: sequences of requests from dom0, two unprivileged domains and a stub domain
//! acting for one of them, framed from raw bytes; no panic, exactly one reply per request, and the
//! tree stays consistent (every listed child exists, every node is listed by its parent).
#![no_main]

use libfuzzer_sys::fuzz_target;
use xen_abi::Errno;
use xenstored::wire::Framer;
use xenstored::{ConnKind, DomainConnector, Message, Quota, Xenstored};

struct AnyRing;

impl DomainConnector for AnyRing {
    fn connect(&mut self, _domid: u32, _port: u32) -> Result<(), Errno> {
        Ok(())
    }
    fn reset(&mut self, _domid: u32, _port: u32) {}
    fn disconnect(&mut self, _domid: u32) {}
}

fn request(x: &mut Xenstored<AnyRing>, c: xenstored::ConnId, kind: u32, payload: &[u8]) {
    x.handle(
        c,
        &Message {
            kind,
            req_id: 0,
            tx_id: 0,
            payload: payload.to_vec(),
        },
    );
    x.take_output(c);
}

fuzz_target!(|data: &[u8]| {
    let quota = Quota {
        nodes: 40,
        trans_nodes: 30,
        ..Quota::default()
    };
    let mut x = Xenstored::with_connector(AnyRing, quota);
    let dom0 = x.new_connection(ConnKind::Socket);
    for (d, port) in [("5", "1"), ("6", "2"), ("7", "3")] {
        request(&mut x, dom0, 8, &[d.as_bytes(), b"\0", b"0\0", port.as_bytes(), b"\0"].concat());
    }
    request(&mut x, dom0, 11, b"/local/domain/5/x\0");
    request(&mut x, dom0, 14, b"/local/domain/5\0n5\0r6\0");
    request(&mut x, dom0, 19, b"7\x005\0");
    let conns = [
        Some(dom0),
        x.domain_conn(5),
        x.domain_conn(6),
        x.domain_conn(7),
    ];
    // Each message: one selector byte, then a framed xenstore message.
    let mut rest = data;
    let mut framer = Framer::new();
    let mut n = 0;
    while let Some((&sel, tail)) = rest.split_first() {
        rest = tail;
        let take = framer.want().min(rest.len());
        let Ok((used, msg)) = framer.put(&rest[..take]) else { return };
        rest = &rest[used..];
        let Some(msg) = msg else { return };
        let Some(Some(c)) = conns.get(usize::from(sel % 4)).copied() else { return };
        x.handle(c, &msg);
        let replies = x.take_output(c).iter().filter(|m| m.kind != 15).count();
        assert!(replies == 1 || x.domain_conn(5 + u32::from(sel % 4)).is_none());
        for other in conns.iter().flatten() {
            x.take_output(*other);
        }
        n += 1;
        if n % 8 == 0 {
            check(&x);
        }
    }
    check(&x);
});

fn check(x: &Xenstored<AnyRing>) {
    for name in x.store.names() {
        let node = x.store.peek(name).expect("listed node exists");
        for c in node.children.iter() {
            let child = xenstored::path::child(name, c);
            assert!(x.store.peek(&child).is_some(), "{name} lists missing {c}");
        }
        if name != "/" {
            let parent = x.store.peek(xenstored::path::parent(name)).expect("parent exists");
            let base = xenstored::path::basename(name);
            assert!(parent.children.iter().any(|c| c == base), "{name} not listed");
        }
    }
}
