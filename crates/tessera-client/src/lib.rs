//! Client SDK for apps that sign in with Tessera: device key store, device registration,
//! DPoP signing, token cache, and automatic handling of claims challenges.
