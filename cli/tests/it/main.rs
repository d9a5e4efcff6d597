//! End-to-end tests of the `weft` binary (one test binary for the whole CLI, to keep builds short).

mod cluster;
mod common;
mod grounding_pipeline;
mod infer_cmd;
mod ocr_pipeline;
mod pipeline_runs;
mod shards_cmds;
