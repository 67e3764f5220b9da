mod codeowners;
mod policy;
