//! Facts about this machine for the `hello` message.

/// The short host name.
pub fn hostname() -> String {
    std::env::var("COMPUTERNAME")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_owned())
        })
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|s| s.trim().to_owned())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The fully qualified name: the short name completed by the resolver's search domain when
/// the system knows one (`/etc/resolv.conf`, or `USERDNSDOMAIN` on Windows).
pub fn fqdn() -> String {
    let short = hostname();
    if short.contains('.') {
        return short;
    }
    let domain = std::env::var("USERDNSDOMAIN").ok().or_else(|| {
        std::fs::read_to_string("/etc/resolv.conf")
            .ok()
            .and_then(|text| {
                text.lines().find_map(|line| {
                    let mut words = line.split_whitespace();
                    match words.next() {
                        Some("domain") | Some("search") => words.next().map(str::to_owned),
                        _ => None,
                    }
                })
            })
    });
    match domain {
        Some(d) if !d.is_empty() => format!("{short}.{}", d.to_ascii_lowercase()),
        _ => short,
    }
}
