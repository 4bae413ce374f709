DROP TABLE locations;
DROP TABLE devices;
