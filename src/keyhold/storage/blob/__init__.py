"""Blob stores: where the encrypted bytes of objects live (keyhold.domain.objects.ports.BlobStore)."""
