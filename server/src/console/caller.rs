//! Who is asking, and what they have been proven allowed to do. A use case that needs a
//! role takes a `Can<R>`, and the only way to get one is `Caller::can`, which checks the
//! role (and that no one-time password is pending): a caller not proven an operator cannot
//! be passed where an operator is needed.

use std::marker::PhantomData;

use super::error::{Error, Refusal};
pub use certfleet_store::Role;

/// A logged-in user, as the console found them when the session was checked. Made only by
/// `Console::authenticate` and `Console::login`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    id: i64,
    name: String,
    role: Role,
    must_change_password: bool,
}

impl Caller {
    pub(super) fn new(id: i64, name: String, role: Role, must_change_password: bool) -> Self {
        Caller {
            id,
            name,
            role,
            must_change_password,
        }
    }

    pub fn id(&self) -> i64 {
        self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn must_change_password(&self) -> bool {
        self.must_change_password
    }

    /// Proof that this caller holds at least `R`'s role.
    pub fn can<R: Level>(&self) -> Result<Can<'_, R>, Error> {
        if self.must_change_password {
            return Err(Error::Forbidden(Refusal::OneTimePassword));
        }
        if self.role < R::ROLE {
            return Err(Error::Forbidden(Refusal::Role {
                needed: R::ROLE.as_str(),
                held: self.role.as_str(),
            }));
        }
        Ok(Can {
            caller: self,
            level: PhantomData,
        })
    }

    /// Whether `can::<R>()` would succeed: what a page offers (buttons) follows this.
    pub fn may<R: Level>(&self) -> bool {
        self.can::<R>().is_ok()
    }
}

/// A role level a use case can ask for.
pub trait Level {
    const ROLE: Role;
}

/// Reads everything but secrets.
#[derive(Debug)]
pub struct Viewer;
/// Also uploads renewals and runs rollouts.
#[derive(Debug)]
pub struct Operator;
/// Also manages users, agents, tokens, windows and alert settings.
#[derive(Debug)]
pub struct Admin;

impl Level for Viewer {
    const ROLE: Role = Role::Viewer;
}
impl Level for Operator {
    const ROLE: Role = Role::Operator;
}
impl Level for Admin {
    const ROLE: Role = Role::Admin;
}

/// A caller proven to hold `R`'s role.
#[derive(Debug)]
pub struct Can<'a, R> {
    caller: &'a Caller,
    level: PhantomData<R>,
}

impl<R> Clone for Can<'_, R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<R> Copy for Can<'_, R> {}

impl<'a, R> Can<'a, R> {
    pub fn caller(&self) -> &'a Caller {
        self.caller
    }

    pub fn name(&self) -> &'a str {
        &self.caller.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_is_proven_or_refused_with_what_is_missing() {
        let operator = Caller::new(1, "olga".into(), Role::Operator, false);
        assert!(operator.can::<Viewer>().is_ok());
        assert!(operator.can::<Operator>().is_ok());
        match operator.can::<Admin>() {
            Err(Error::Forbidden(Refusal::Role { needed, held })) => {
                assert_eq!((needed, held), ("admin", "operator"));
            }
            other => panic!("an operator passed as admin: {other:?}"),
        }
        let fresh = Caller::new(2, "ada".into(), Role::Admin, true);
        assert!(matches!(
            fresh.can::<Viewer>(),
            Err(Error::Forbidden(Refusal::OneTimePassword))
        ));
        assert!(!fresh.may::<Viewer>());
    }
}
