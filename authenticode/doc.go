// Package authenticode owns PE/COFF images as UEFI firmware measures and
// verifies them: parsing the headers that matter, the Authenticode digest
// (the value of EV_EFI_BOOT_SERVICES_APPLICATION events and db/dbx hash
// entries), and the PKCS#7 signatures in the attribute certificate table.
package authenticode
