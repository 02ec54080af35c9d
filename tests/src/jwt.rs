//! ES256 JSON Web Tokens for the JWT login tests: a key pair the test generates, its public key
//! in the PEM form OpenBao's `jwt` auth method takes (`jwt_validation_pubkeys`), and id tokens
//! with the claims Jenkins' OpenID Connect Provider plugin puts in a build's token.
//!
//! Only `ring` signs (ECDSA P-256 SHA-256, JWS `ES256`). The plugin itself signs `RS256` with a
//! 2048-bit RSA key; ring cannot generate RSA keys, and Vault/OpenBao verify either algorithm
//! the same way (`jwt_supported_algs` defaults to both), so the login path under test is the same.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// DER of a P-256 `SubjectPublicKeyInfo` up to its key bits: SEQUENCE { SEQUENCE { OID
/// id-ecPublicKey 1.2.840.10045.2.1, OID prime256v1 1.2.840.10045.3.1.7 }, BIT STRING (66 bytes:
/// no unused bits, then the 65-byte uncompressed point) }.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The plugin's default token lifetime (`tokenLifetime`, 3600 seconds).
const JENKINS_DEFAULT_LIFETIME_SECS: i64 = 3600;

/// An issuer of ES256 id tokens: a fresh P-256 key pair, the `iss` it puts in tokens and the
/// `kid` of its header.
pub struct JwtIssuer {
    /// The `iss` claim, e.g. `https://jenkins.example.com/oidc`.
    pub issuer: String,
    /// The `kid` header (Jenkins uses the credential's id); here a digest of the public key.
    pub kid: String,
    /// The private key as PKCS#8 (v1 with the public key, what ring generates).
    pkcs8: Vec<u8>,
    key: EcdsaKeyPair,
}

impl std::fmt::Debug for JwtIssuer {
    /// Never shows the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtIssuer")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl JwtIssuer {
    /// A fresh P-256 key pair (`EcdsaKeyPair::generate_pkcs8` with `SystemRandom`) issuing as
    /// `issuer`.
    pub fn generate(issuer: &str) -> JwtIssuer {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("generate a P-256 key pair")
            .as_ref()
            .to_vec();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng)
            .expect("parse the generated PKCS#8 key");
        let kid = hex::encode(&Sha256::digest(key.public_key().as_ref())[..8]);
        JwtIssuer {
            issuer: issuer.to_owned(),
            kid,
            pkcs8,
            key,
        }
    }

    /// The private key as PKCS#8 DER (for a test that must hand it to another signer).
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key as the 65-byte uncompressed point (`0x04 || x || y`).
    pub fn public_key_point(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }

    /// The public key as `SubjectPublicKeyInfo` DER: the fixed P-256 prefix and the point.
    pub fn public_key_der(&self) -> Vec<u8> {
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.extend_from_slice(self.public_key_point());
        der
    }

    /// The public key as a PEM `PUBLIC KEY` (the SPKI DER in base64, 64 characters a line), what
    /// OpenBao's jwt auth takes in `jwt_validation_pubkeys`.
    pub fn public_key_pem(&self) -> String {
        let b64 = STANDARD.encode(self.public_key_der());
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    /// A compact JWS of `claims`: header `{"alg":"ES256","kid":..,"typ":"JWT"}`, header and
    /// claims base64url without padding, signature `ECDSA_P256_SHA256_FIXED_SIGNING` (`r || s`,
    /// 64 bytes, the form JWS `ES256` wants, not DER) over `header.claims`.
    pub fn mint(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": self.kid});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("header serializes")),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize")),
        );
        let signature = self
            .key
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .expect("ECDSA signing");
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }

    /// The claims Jenkins' OpenID Connect Provider plugin (`jenkinsci/oidc-provider-plugin`,
    /// `IdTokenCredentials.token()` and `config/IdTokenConfiguration`) puts in the id token of
    /// an "OpenID Connect id token" credential bound in a build, with its default claim templates:
    ///
    /// - `iss`: the issuer (by default `<JENKINS_URL>oidc`, for a credential in a folder
    ///   `<JENKINS_URL>oidc/job/<folder>`);
    /// - `aud`: the credential's audience, as a one-element array (jjwt's `audience().add(..)`);
    /// - `iat`: now; `exp`: `iat` + `tokenLifetime` (default 3600 s). No `nbf`, no `jti`.
    /// - the build claim templates: `sub` = `${JOB_URL}` (string), `build_number` =
    ///   `${BUILD_NUMBER}` (integer).
    ///
    /// Here `exp` is now + `ttl_secs`. A negative `ttl_secs` gives a token that has already
    /// expired; its `iat` is then one default lifetime before `exp`, so `iat < exp` as in a real
    /// token. Vault/OpenBao accept a token up to the role's `clock_skew_leeway` (default 60 s)
    /// past `exp` (OpenBao 2.7.2: 30 s past logs in, 100 s past is refused), so an expired token
    /// that must be refused needs `ttl_secs` well below -60 (e.g. -3600).
    pub fn jenkins_claims(
        &self,
        audience: &str,
        job_url: &str,
        build_number: u64,
        ttl_secs: i64,
    ) -> Value {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs() as i64;
        let exp = now + ttl_secs;
        let iat = if ttl_secs < 0 {
            exp - JENKINS_DEFAULT_LIFETIME_SECS
        } else {
            now
        };
        json!({
            "iss": self.issuer,
            "aud": [audience],
            "iat": iat,
            "exp": exp,
            "sub": job_url,
            "build_number": build_number,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

    const ISS: &str = "https://jenkins.example.com/oidc";
    const JOB: &str = "https://jenkins.example.com/job/gitops/job/deploy/";

    fn parts(token: &str) -> Vec<&str> {
        token.split('.').collect()
    }

    fn decode_json(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    fn verifies(token: &str, point: &[u8]) -> bool {
        let p = parts(token);
        let signed = format!("{}.{}", p[0], p[1]);
        let sig = URL_SAFE_NO_PAD.decode(p[2]).unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
            .verify(signed.as_bytes(), &sig)
            .is_ok()
    }

    #[test]
    fn jwt_minted_token_has_three_parts_that_decode_to_what_was_given() {
        let issuer = JwtIssuer::generate(ISS);
        let claims = issuer.jenkins_claims("gitops-vault", JOB, 42, 300);
        let token = issuer.mint(&claims);
        let p = parts(&token);
        assert_eq!(p.len(), 3, "{token}");
        assert!(
            p.iter().all(|s| !s.contains('=') && !s.is_empty()),
            "{token}"
        );
        assert_eq!(
            decode_json(p[0]),
            json!({"alg": "ES256", "typ": "JWT", "kid": issuer.kid})
        );
        assert_eq!(decode_json(p[1]), claims);
        assert_eq!(URL_SAFE_NO_PAD.decode(p[2]).unwrap().len(), 64);
    }

    #[test]
    fn jwt_jenkins_claims_are_the_plugins_defaults() {
        let issuer = JwtIssuer::generate(ISS);
        let c = issuer.jenkins_claims("gitops-vault", JOB, 7, 600);
        assert_eq!(c["iss"], ISS);
        assert_eq!(c["aud"], json!(["gitops-vault"]));
        assert_eq!(c["sub"], JOB);
        assert_eq!(c["build_number"], 7);
        assert!(c.get("nbf").is_none());
        let (iat, exp) = (c["iat"].as_i64().unwrap(), c["exp"].as_i64().unwrap());
        assert_eq!(exp - iat, 600);
        let expired = issuer.jenkins_claims("gitops-vault", JOB, 7, -3600);
        let (iat, exp) = (
            expired["iat"].as_i64().unwrap(),
            expired["exp"].as_i64().unwrap(),
        );
        assert!(iat < exp);
        assert!(exp < c["iat"].as_i64().unwrap() - 3000);
    }

    #[test]
    fn jwt_signature_verifies_with_the_public_key_and_not_with_another() {
        let issuer = JwtIssuer::generate(ISS);
        let other = JwtIssuer::generate(ISS);
        let token = issuer.mint(&issuer.jenkins_claims("aud", JOB, 1, 60));
        assert!(verifies(&token, issuer.public_key_point()));
        assert!(!verifies(&token, other.public_key_point()));
        let forged = other.mint(&issuer.jenkins_claims("aud", JOB, 1, 60));
        assert!(!verifies(&forged, issuer.public_key_point()));
        // Claims changed after signing do not verify either.
        let p = parts(&token);
        let tampered_claims = URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&issuer.jenkins_claims("aud", JOB, 2, 60)).unwrap());
        let tampered = format!("{}.{}.{}", p[0], tampered_claims, p[2]);
        assert!(!verifies(&tampered, issuer.public_key_point()));
    }

    #[test]
    fn jwt_pem_decodes_to_spki_der_ending_in_the_point() {
        let issuer = JwtIssuer::generate(ISS);
        let pem = issuer.public_key_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
        assert!(pem.ends_with("\n-----END PUBLIC KEY-----\n"), "{pem}");
        let body: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .inspect(|l| assert!(l.len() <= 64))
            .collect();
        let der = STANDARD.decode(body).unwrap();
        assert_eq!(der.len(), 91);
        assert_eq!(der[..26], P256_SPKI_PREFIX);
        let point = &der[26..];
        assert_eq!(point.len(), 65);
        assert_eq!(point[0], 0x04);
        assert_eq!(point, issuer.public_key_point());
        assert_eq!(der, issuer.public_key_der());
        // The PKCS#8 document holds the same public key.
        let again = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            issuer.pkcs8_der(),
            &SystemRandom::new(),
        )
        .unwrap();
        assert_eq!(again.public_key().as_ref(), point);
    }

    #[test]
    fn jwt_debug_does_not_show_the_key() {
        let issuer = JwtIssuer::generate(ISS);
        let shown = format!("{issuer:?}");
        assert!(
            shown.contains(ISS) && shown.contains(&issuer.kid),
            "{shown}"
        );
        assert!(!shown.contains(&hex::encode(issuer.pkcs8_der())));
    }
}
