//! The long explanations, kept apart from the code (as arc-swap keeps its
//! own): how a reload works, the watchers and every update pattern tested
//! against them, the Kubernetes API source, the limits. Nothing here is
//! code.

pub mod kube;
pub mod limits;
pub mod reload;
pub mod watchers;
