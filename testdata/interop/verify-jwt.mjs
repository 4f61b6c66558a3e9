// Verifies writ's JWTs with jose, as a third-party resource server would.
//
//   node verify-jwt.mjs --jwks FILE --issuer ISS --audience AUD --alg ALG [--alg ALG]... TOKEN...
//
// On success it prints [{header, payload}] as JSON, one entry per token in
// order. If any token fails, it names each failure (with jose's error code)
// on stderr and exits 1.
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { createLocalJWKSet, jwtVerify } from 'jose'

const { values: args, positionals: tokens } = parseArgs({
  allowPositionals: true,
  options: {
    jwks: { type: 'string' },
    issuer: { type: 'string' },
    audience: { type: 'string' },
    alg: { type: 'string', multiple: true },
  },
})
if (!args.jwks || !args.issuer || !args.audience || !args.alg || tokens.length === 0) {
  console.error('usage: node verify-jwt.mjs --jwks FILE --issuer ISS --audience AUD --alg ALG... TOKEN...')
  process.exit(2)
}

const keys = createLocalJWKSet(JSON.parse(await readFile(args.jwks, 'utf8')))
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
