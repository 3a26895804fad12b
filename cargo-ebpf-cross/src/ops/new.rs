use crate::error::Result;
use crate::ops::Global;
use clap::Args;
#[derive(Debug, Args)]
pub struct NewArgs {}
#[derive(Debug, Args)]
pub struct InitArgs {}
pub fn new(_g: Global, _a: NewArgs) -> Result<i32> {
    Ok(0)
}
pub fn init(_g: Global, _a: InitArgs) -> Result<i32> {
    Ok(0)
}
