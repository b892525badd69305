# ldconfig.sh: the RPM %post/%postun scriptlet of packages that ship a shared library.
/sbin/ldconfig
