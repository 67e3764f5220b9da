mod codeowners;
mod policy;
mod tidy;
