"""Google: Customer Match through the Data Manager API (``data_manager``), and the pieces it
is built from -- OAuth (``auth``), members and consent (``dm_members``), the error policy
(``dm_errors``) -- plus the Google Ads API's error policy (``ads_errors``) for the legacy
path in ``syncd.destinations.google_ads``."""
