-- Version 0010: which tenants pulled an image with registry credentials. A cached image
-- on this list runs for another tenant only after that tenant's own pull of it succeeds.
CREATE TABLE private_images (
    image_id  TEXT NOT NULL,
    tenant    TEXT NOT NULL,
    pulled_at INTEGER NOT NULL,
    PRIMARY KEY (image_id, tenant)
);
