// Verifies writ's PASETO v4.public tokens with panva's paseto, using the
// keys of writ's PASERK set ({"keys":[{"kid":"k4.pid…","paserk":"k4.public…"}]}).
//
//   node verify-paseto.mjs --paserk FILE --issuer ISS --audience AUD TOKEN...
//
// On success it prints [{kid, claims}] as JSON, one entry per token in order.
// If any token fails, it names each failure on stderr and exits 1.
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { InspectFooter, PublicProtocol } from 'paseto'
import { ImportPublicKeyFactory, VerifyFactory } from 'paseto/v4/public'

const { values: args, positionals: tokens } = parseArgs({
  allowPositionals: true,
  options: {
    paserk: { type: 'string' },
    issuer: { type: 'string' },
    audience: { type: 'string' },
  },
})
if (!args.paserk || !args.issuer || !args.audience || tokens.length === 0) {
  console.error('usage: node verify-paseto.mjs --paserk FILE --issuer ISS --audience AUD TOKEN...')
  process.exit(2)
}

const v4 = new PublicProtocol(ImportPublicKeyFactory, VerifyFactory)
const keys = new Map()
for (const { kid, paserk } of JSON.parse(await readFile(args.paserk, 'utf8')).keys) {
  keys.set(kid, await v4.ImportPublicKey(paserk))
}
const footerKID = (footer) => JSON.parse(new TextDecoder().decode(footer)).kid

async function verify(token) {
  // The footer names the signing key; it is not trusted until Verify has
  // authenticated it, after which its kid must still name that key.
  const kid = footerKID(InspectFooter(token))
  const key = keys.get(kid)
  if (!key) throw new Error(`no key ${JSON.stringify(kid)} in the PASERK set`)
  const { claims, footer } = await v4.Verify(key, token, {
    issuer: args.issuer,
    audience: args.audience,
    requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti'],
  })
  if (footerKID(footer) !== kid) throw new Error('authenticated footer names another key')
  return { kid, claims }
}

const results = []
let failed = false
for (const [i, token] of tokens.entries()) {
  try {
    results.push(await verify(token))
  } catch (err) {
    failed = true
    console.error(`token ${i}: ${err.code ?? err.name}: ${err.message}`)
  }
}
if (failed) process.exit(1)
console.log(JSON.stringify(results))
