/* Only the EVP digest interface: SHA-256 one-shot (EVP_Digest) and streaming (EVP_MD_CTX). The
   low-level SHA256_Init/Update/Final are deprecated in OpenSSL 3. */
#include <openssl/evp.h>
