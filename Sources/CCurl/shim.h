#include <curl/curl.h>

/* curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: one typed
   wrapper per argument type the caller passes. */

static inline CURLcode vaiq_curl_set_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode vaiq_curl_set_off(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

/* libcurl copies string options (CURLOPT_URL, CURLOPT_USERNAME, ...) since 7.17. */
static inline CURLcode vaiq_curl_set_str(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

/* Pointer options: CURLOPT_HTTPHEADER (a curl_slist), CURLOPT_ERRORBUFFER, CURLOPT_WRITEDATA and
   CURLOPT_READDATA; the pointee must outlive curl_easy_perform. */
static inline CURLcode vaiq_curl_set_ptr(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

/* The shape of both CURLOPT_WRITEFUNCTION and CURLOPT_READFUNCTION callbacks. */
typedef size_t (*vaiq_curl_data_callback)(char *buffer, size_t size, size_t count, void *userdata);

static inline CURLcode vaiq_curl_set_write_function(CURL *handle, vaiq_curl_data_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, callback);
}

static inline CURLcode vaiq_curl_set_read_function(CURL *handle, vaiq_curl_data_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_READFUNCTION, callback);
}

static inline CURLcode vaiq_curl_get_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

/* CURLINFO_CONTENT_TYPE and the like: a string owned by the handle, valid until the next request. */
static inline CURLcode vaiq_curl_get_str(CURL *handle, CURLINFO info, char **value) {
    return curl_easy_getinfo(handle, info, value);
}

/* CURL_GLOBAL_DEFAULT is a composite macro. */
static inline CURLcode vaiq_curl_global_init(void) {
    return curl_global_init(CURL_GLOBAL_DEFAULT);
}
