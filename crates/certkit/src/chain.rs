//! Puts certificates in order, leaf → intermediates → root, checking each signature, and
//! says which link is missing up to a supplied root or trust bundle.

use crate::cert::Certificate;
use crate::signature::SignatureCheck;

/// Where a certificate of the chain came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    /// Index into the supplied certificates.
    Supplied(usize),
    /// Index into the trust bundle.
    Anchor(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChainProblem {
    /// The supplied certificates were not in leaf-first order.
    OutOfOrder,
    /// `child`'s signature does not verify with the key of the certificate named as its issuer.
    BadSignature { child: usize, issuer: Link },
    /// certkit cannot check this signature algorithm.
    Unverifiable { child: usize, algorithm: String },
    /// No certificate issued `last` (the chain stops there).
    MissingIssuer { last: usize },
    /// The chain ends at a self-signed root that is not in the supplied trust bundle.
    UntrustedRoot { root: usize },
    /// A supplied certificate is not part of the leaf's chain.
    Unrelated { index: usize },
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Chain {
    /// Indices into the supplied certificates, leaf first.
    pub ordered: Vec<usize>,
    /// The trust-bundle certificate the chain ends at, if any.
    pub anchor: Option<usize>,
    pub problems: Vec<ChainProblem>,
}

/// Builds the chain of `certs[leaf]` from the other supplied certificates and `trust`.
/// With an empty `trust`, a chain that stops below a root is reported as `MissingIssuer`
/// all the same; the caller decides how serious that is.
pub(crate) fn build(certs: &[Certificate], leaf: usize, trust: &[Certificate]) -> Chain {
    let mut chain = Chain {
        ordered: vec![leaf],
        ..Chain::default()
    };
    let mut used = vec![false; certs.len()];
    used[leaf] = true;

    loop {
        let current_index = *chain.ordered.last().unwrap_or(&leaf);
        let current = &certs[current_index];
        if current.facts().self_signed {
            if !trust.is_empty() && !trust.iter().any(|t| t.der() == current.der()) {
                chain.problems.push(ChainProblem::UntrustedRoot {
                    root: current_index,
                });
            }
            break;
        }

        let candidates: Vec<usize> = (0..certs.len())
            .filter(|&i| !used[i] && current.names_as_issuer(&certs[i]))
            .collect();
        if let Some(next) = pick(
            current,
            current_index,
            &candidates,
            certs,
            Link::Supplied,
            &mut chain,
        ) {
            used[next] = true;
            chain.ordered.push(next);
            continue;
        }

        let anchors: Vec<usize> = (0..trust.len())
            .filter(|&i| current.names_as_issuer(&trust[i]))
            .collect();
        match pick(
            current,
            current_index,
            &anchors,
            trust,
            Link::Anchor,
            &mut chain,
        ) {
            Some(anchor) => chain.anchor = Some(anchor),
            None if anchors.is_empty() => chain.problems.push(ChainProblem::MissingIssuer {
                last: current_index,
            }),
            None => {}
        }
        break;
    }

    if !chain.ordered.windows(2).all(|w| w[0] < w[1]) {
        chain.problems.insert(0, ChainProblem::OutOfOrder);
    }
    for (index, was_used) in used.iter().enumerate() {
        if !was_used {
            chain.problems.push(ChainProblem::Unrelated { index });
        }
    }
    chain
}

/// Picks the candidate whose key verifies `current`'s signature. When names match but no
/// signature verifies, the first candidate is still taken (so the rest of the chain is
/// judged) and the broken link is recorded.
fn pick(
    current: &Certificate,
    current_index: usize,
    candidates: &[usize],
    pool: &[Certificate],
    link: fn(usize) -> Link,
    chain: &mut Chain,
) -> Option<usize> {
    let mut unverifiable = None;
    // Candidates whose key identifiers agree are tried first; they are the likely issuers.
    let mut candidates = candidates.to_vec();
    candidates.sort_by_key(|&i| !current.key_ids_agree(&pool[i]));
    for &i in &candidates {
        match current.signed_by(&pool[i]) {
            SignatureCheck::Valid => return Some(i),
            SignatureCheck::Unsupported(algorithm) => {
                unverifiable.get_or_insert((i, algorithm));
            }
            SignatureCheck::Invalid => {}
        }
    }
    if let Some((i, algorithm)) = unverifiable {
        chain.problems.push(ChainProblem::Unverifiable {
            child: current_index,
            algorithm,
        });
        return Some(i);
    }
    let first = *candidates.first()?;
    chain.problems.push(ChainProblem::BadSignature {
        child: current_index,
        issuer: link(first),
    });
    Some(first)
}
