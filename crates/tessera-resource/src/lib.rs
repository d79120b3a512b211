//! Resource-server SDK for APIs that accept Tessera tokens: a tower layer that validates JWT
//! access tokens and DPoP proofs, keeps revocation state fed by SSF, enforces network
//! location policy and answers with standard `WWW-Authenticate` challenges.
