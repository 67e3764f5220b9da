mod codeowners;
mod policy;
mod tidy;
mod detect;
mod robustness;
mod pull_request;
