use crate::error::Result;
use crate::ops::Global;
use clap::Args;
#[derive(Debug, Args)]
pub struct InstallArgs {}
pub fn install(_g: Global, _a: InstallArgs) -> Result<i32> {
    Ok(0)
}
