mod codeowners;
mod detect;
mod policy;
mod pull_request;
mod risk;
mod robustness;
mod server;
mod tidy;
