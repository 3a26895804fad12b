use crate::error::Result;
use crate::ops::Global;
use clap::Args;
#[derive(Debug, Args)]
pub struct RunArgs {}
pub fn run(_g: Global, _a: RunArgs) -> Result<i32> {
    Ok(0)
}
