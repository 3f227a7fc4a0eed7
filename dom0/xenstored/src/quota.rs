//! Quotas with C xenstored 4.17's defaults and its command-line options.

/// Limits on unprivileged domains (dom0, `--priv-domid` and socket connections are exempt from
/// all but `path_max`), plus the daemon's own bound on unsent output per connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quota {
    /// `-E`, `nodes`: nodes a domain may own.
    pub nodes: i64,
    /// `-W`, `watches`: watches a domain may hold.
    pub watches: usize,
    /// `-t`, `transactions`: open transactions per connection.
    pub transactions: usize,
    /// `-Q outstanding=`: requests of a domain whose replies it has not yet taken; past it, the
    /// domain's requests wait.
    pub outstanding: usize,
    /// `-Q transaction-nodes=`: nodes one transaction may touch.
    pub trans_nodes: usize,
    /// `-Q memory=`: bytes of unsent output per connection past which its requests wait and its
    /// watch events are dropped (C: memory per domain, error level).
    pub memory: usize,
    /// `-q memory=`: warning level of the same (logged).
    pub memory_soft: usize,
    /// `-S`, `node-size`: a node record (value, permissions, child names) must stay below it.
    pub node_size: usize,
    /// `-M`, `path-max`: bytes of a path below `/local/domain/<id>/` (or of any other path).
    pub path_max: usize,
    /// `-A`, `permissions`: entries an unprivileged caller may set on a node.
    pub perms: usize,
}

impl Default for Quota {
    fn default() -> Self {
        Quota {
            nodes: 1000,
            watches: 128,
            transactions: 10,
            outstanding: 20,
            trans_nodes: 1024,
            memory: 2 * 1024 * 1024 + 512 * 1024,
            memory_soft: 2 * 1024 * 1024,
            node_size: 2048,
            path_max: 2048,
            perms: 5,
        }
    }
}

impl Quota {
    /// `quota` of `xenstore-control`: the hard quotas, as C prints them.
    pub fn show_hard(&self) -> String {
        let rows: [(&str, i64, &str); 9] = [
            ("nodes", self.nodes, "Nodes per domain"),
            ("watches", self.watches as i64, "Watches per domain"),
            (
                "transactions",
                self.transactions as i64,
                "Transactions per domain",
            ),
            (
                "outstanding",
                self.outstanding as i64,
                "Outstanding requests per domain",
            ),
            (
                "transaction-nodes",
                self.trans_nodes as i64,
                "Max. number of accessed nodes per transaction",
            ),
            (
                "memory",
                self.memory as i64,
                "Total Xenstore memory per domain (error level)",
            ),
            ("node-size", self.node_size as i64, "Max. size of a node"),
            (
                "path-max",
                self.path_max as i64,
                "Max. length of a node path",
            ),
            (
                "permissions",
                self.perms as i64,
                "Max. number of permissions per node",
            ),
        ];
        let mut s = String::from("Quota settings:\n");
        for (name, v, descr) in rows {
            s.push_str(&format!("{name:<17}: {v:>8} {descr}\n"));
        }
        s
    }

    /// `quota-soft`: the soft quotas.
    pub fn show_soft(&self) -> String {
        format!(
            "Quota settings:\n{:<17}: {:>8} {}\n",
            "memory", self.memory_soft, "Total Xenstore memory per domain (warning level)"
        )
    }

    /// `quota set <name> <val>` (`soft` for `quota-soft`); false if there is no such quota.
    pub fn set(&mut self, name: &str, val: usize, soft: bool) -> bool {
        if soft {
            if name == "memory" {
                self.memory_soft = val;
                return true;
            }
            return false;
        }
        match name {
            "nodes" => self.nodes = val as i64,
            "watches" => self.watches = val,
            "transactions" => self.transactions = val,
            "outstanding" => self.outstanding = val,
            "transaction-nodes" => self.trans_nodes = val,
            "memory" => self.memory = val,
            "node-size" => self.node_size = val,
            "path-max" => self.path_max = val,
            "permissions" => self.perms = val,
            _ => return false,
        }
        true
    }
}
