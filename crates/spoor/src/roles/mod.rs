//! The roles `spoor` runs as, each the wiring of library crates. The
//! all-in-one role (no subcommand) is `crate::run`; `spoor agent` is
//! [`agent`]; `spoor collector`, `query` and `compactor` are [`cluster`]
//! (wired by `crate::run_role`). A role's listeners are its list in `spoor_server::roles`; its
//! listener flags are `crate::config::ListenerArgs` of that list. Tools
//! (`tracegen`, `bench`, `import`, `export`) are not roles: they live in
//! `spoor-tools`.

pub mod agent;
pub mod cluster;
