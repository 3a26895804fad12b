use crate::error::Result;
use crate::ops::Global;
use clap::Args;
#[derive(Debug, Args)]
pub struct BuildArgs {}
pub fn build(_g: Global, _a: BuildArgs) -> Result<i32> {
    Ok(0)
}
