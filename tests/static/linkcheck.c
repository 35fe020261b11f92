/*
 * linkcheck: proves that every library of the static /init prefix links into
 * one fully static musl binary and runs. It calls one cheap function per
 * library (and takes the address of Esys_Initialize, which drags in ESYS's
 * built-in tctildr, the device TCTI and mbedcrypto), prints what it got and
 * exits 0. Nothing here needs a TPM, a network or device-mapper at run time.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <archive.h>
#include <blkid/blkid.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <libcryptsetup.h>
#include <libdevmapper.h>
#include <mbedtls/version.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tcti_device.h>
#include <uuid/uuid.h>
#include <yaml.h>
#include <zlib.h>
#include <zstd.h>

/* The compiler must not drop the reference: it is the point of the check. */
static void *volatile esys_initialize_ref;

int main(void)
{
	char mbed[18] = "";
	char dm[64] = "";
	char uuid_str[37];
	const char *blkid_ver = NULL, *blkid_date = NULL;
	const curl_version_info_data *curl;
	uuid_t uuid;
	size_t tcti_size = 0;
	TSS2_RC rc;

	printf("zlib        %s\n", zlibVersion());
	printf("zstd        %u\n", ZSTD_versionNumber());
	mbedtls_version_get_string(mbed);
	printf("mbedtls     %s\n", mbed);
	printf("json-c      %s\n", json_c_version());
	printf("libyaml     %s\n", yaml_get_version_string());
	blkid_get_library_version(&blkid_ver, &blkid_date);
	printf("libblkid    %s (%s)\n", blkid_ver, blkid_date);
	uuid_generate(uuid);
	uuid_unparse(uuid, uuid_str);
	printf("libuuid     %s\n", uuid_str);
	if (!dm_get_library_version(dm, sizeof(dm)))
		return 1;
	printf("devmapper   %s\n", dm);
	printf("cryptsetup  default type %s\n", crypt_get_default_type());

	curl = curl_version_info(CURLVERSION_NOW);
	printf("curl        %s (%s, protocols:", curl->version, curl->ssl_version);
	for (const char *const *p = curl->protocols; *p; p++)
		printf(" %s", *p);
	printf("; CA path %s)\n", curl->capath ? curl->capath : "none");

	printf("libarchive  %s\n", archive_version_details());

	/* A NULL context asks only for the size the context needs. */
	rc = Tss2_Tcti_Device_Init(NULL, &tcti_size, NULL);
	if (rc != TSS2_RC_SUCCESS || tcti_size == 0)
		return 1;
	printf("tcti-device context size %zu\n", tcti_size);

	esys_initialize_ref = (void *)(uintptr_t)Esys_Initialize;
	printf("esys        Esys_Initialize at %p\n", esys_initialize_ref);
	printf("tss2-rc     %s\n", Tss2_RC_Decode(TPM2_RC_INITIALIZE));

	return esys_initialize_ref ? 0 : 1;
}
