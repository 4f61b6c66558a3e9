// Verifies writ's JWTs with jose, as a third-party resource server would.
//
//   node verify-jwt.mjs --jwks FILE|--jwks-url URL --issuer ISS --audience AUD --alg ALG [--alg ALG]... TOKEN...
//
// With --jwks-url, jose fetches the key set from a running writ serve with
// createRemoteJWKSet, as a gateway would.
//
// On success it prints [{header, payload}] as JSON, one entry per token in
// order. If any token fails, it names each failure (with jose's error code)
// on stderr and exits 1.
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify } from 'jose'

const { values: args, positionals: tokens } = parseArgs({
  allowPositionals: true,
  options: {
    jwks: { type: 'string' },
    'jwks-url': { type: 'string' },
    issuer: { type: 'string' },
    audience: { type: 'string' },
    alg: { type: 'string', multiple: true },
  },
})
if (!args.jwks === !args['jwks-url'] || !args.issuer || !args.audience || !args.alg || tokens.length === 0) {
  console.error('usage: node verify-jwt.mjs --jwks FILE|--jwks-url URL --issuer ISS --audience AUD --alg ALG... TOKEN...')
  process.exit(2)
}

const keys = args.jwks
  ? createLocalJWKSet(JSON.parse(await readFile(args.jwks, 'utf8')))
  : createRemoteJWKSet(new URL(args['jwks-url']))
const options = {
  issuer: args.issuer,
  audience: args.audience,
  typ: 'at+jwt',
  algorithms: args.alg,
  requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti'],
}

const results = []
let failed = false
for (const [i, token] of tokens.entries()) {
  try {
    const { protectedHeader: header, payload } = await jwtVerify(token, keys, options)
    results.push({ header, payload })
  } catch (err) {
    failed = true
    console.error(`token ${i}: ${err.code ?? err.name}: ${err.message}`)
  }
}
if (failed) process.exit(1)
console.log(JSON.stringify(results))
