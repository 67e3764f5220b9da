mod codeowners;
mod detect;
mod policy;
mod pull_request;
mod robustness;
mod tidy;
