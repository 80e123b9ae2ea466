"""OData grammar files, installed as the package ``proseo_odata.grammars``."""
