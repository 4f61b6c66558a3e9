// Signs access tokens with jose, as a third-party issuer would, for writ to
// verify: one fresh key and one token per algorithm.
//
//   node sign-jwt.mjs --issuer ISS --audience AUD --subject SUB --scope SCOPE \
//     --client-id NAME --alg ALG [--alg ALG]...
//
// It prints {jwks, tokens} as JSON: the public keys as a JWKS (each with its
// RFC 7638 thumbprint as kid, and its alg), and [{alg, kid, jti, token}].
import { parseArgs } from 'node:util'
import { SignJWT, base64url, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose'

const { values: args } = parseArgs({
  options: {
    issuer: { type: 'string' },
    audience: { type: 'string' },
    subject: { type: 'string' },
    scope: { type: 'string' },
    'client-id': { type: 'string' },
    alg: { type: 'string', multiple: true },
  },
})
if (!args.issuer || !args.audience || !args.subject || !args.scope || !args['client-id'] || !args.alg) {
  console.error('usage: node sign-jwt.mjs --issuer ISS --audience AUD --subject SUB --scope SCOPE --client-id NAME --alg ALG...')
  process.exit(2)
}

const now = Math.floor(Date.now() / 1000)
const jwks = { keys: [] }
const tokens = []
for (const alg of args.alg) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { modulusLength: 2048 })
  const jwk = await exportJWK(publicKey)
  const kid = await calculateJwkThumbprint(jwk)
  jwks.keys.push({ ...jwk, kid, alg, use: 'sig' })

  const jti = base64url.encode(crypto.getRandomValues(new Uint8Array(16)))
  const token = await new SignJWT({ scope: args.scope, client_id: args['client-id'] })
    .setProtectedHeader({ alg, kid, typ: 'at+jwt' })
    .setIssuer(args.issuer)
    .setSubject(args.subject)
    .setAudience(args.audience)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + 600)
    .setJti(jti)
    .sign(privateKey)
  tokens.push({ alg, kid, jti, token })
}
console.log(JSON.stringify({ jwks, tokens }))
